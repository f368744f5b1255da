//! Country → time zones (docs/campaigns.md#time-zones), from the IANA
//! `zone1970.tab` as the Debian `tzdata` package ships it (embedded at build
//! time, never a hand-typed table). A country listed on one line only has
//! one zone; the US, Canada, Russia, Brazil, Australia … have several.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono_tz::Tz;

/// The IANA table: `codes<TAB>coordinates<TAB>zone[<TAB>comments]`.
const ZONE1970: &str = include_str!("zone1970.tab");

/// Every zone listed for a country (ISO 3166 alpha-2, upper case), in the
/// table's order; empty for an unknown country.
pub fn for_country(code: &str) -> &'static [Tz] {
    static TABLE: OnceLock<BTreeMap<String, Vec<Tz>>> = OnceLock::new();
    let table = TABLE.get_or_init(|| parse(ZONE1970));
    table.get(&code.to_ascii_uppercase()).map(Vec::as_slice).unwrap_or(&[])
}

/// Parse `zone1970.tab`; a zone chrono-tz does not know is left out.
fn parse(text: &str) -> BTreeMap<String, Vec<Tz>> {
    let mut out: BTreeMap<String, Vec<Tz>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut cols = line.split('\t');
        let (Some(codes), Some(_), Some(zone)) = (cols.next(), cols.next(), cols.next()) else { continue };
        let Ok(tz) = zone.parse::<Tz>() else { continue };
        for code in codes.split(',') {
            let zones = out.entry(code.trim().to_string()).or_default();
            if !zones.contains(&tz) {
                zones.push(tz);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_zone_country_has_exactly_that_zone() {
        assert_eq!(for_country("FR"), [chrono_tz::Europe::Paris]);
        assert_eq!(for_country("jp"), [chrono_tz::Asia::Tokyo]);
        // Shared lines count for every country on them.
        assert_eq!(for_country("OM"), [chrono_tz::Asia::Dubai]);
    }

    #[test]
    fn a_country_over_several_zones_lists_them_all() {
        let us = for_country("US");
        assert!(us.len() > 10, "{us:?}");
        for z in [chrono_tz::America::New_York, chrono_tz::America::Los_Angeles, chrono_tz::Pacific::Honolulu] {
            assert!(us.contains(&z), "{z}");
        }
        assert!(for_country("ZZ").is_empty());
    }

    #[test]
    fn every_zone_of_the_table_is_known_to_chrono_tz() {
        let listed = ZONE1970.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).count();
        let parsed: usize = {
            let mut zones: Vec<Tz> = parse(ZONE1970).into_values().flatten().collect();
            zones.sort_by_key(|z| z.name());
            zones.dedup();
            zones.len()
        };
        assert_eq!(parsed, listed);
    }
}
