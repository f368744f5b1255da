//! Running blocking work (files, locks, terminal prompts, signals) from
//! async code without stalling the runtime.

use crate::error::{Error, Result};

/// Run `f` on tokio's blocking pool and return its result. The one way the
/// crate leaves the async runtime for blocking work: a task that panics or
/// is cancelled becomes an [`Error::Failed`] instead of tearing the caller
/// down.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::failed(format!("a background task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn results_come_back_and_a_panic_is_an_error() {
        assert_eq!(blocking(|| Ok(2 + 2)).await.unwrap(), 4);
        assert!(matches!(blocking(|| Err::<(), _>(Error::usage("no"))).await, Err(Error::Usage(_))));
        let e = blocking(|| -> Result<()> { panic!("boom") }).await.unwrap_err();
        assert!(matches!(e, Error::Failed(_)), "{e:?}");
    }
}
