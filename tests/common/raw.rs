//! A raw HTTP/1.1 server on 127.0.0.1:0 for what an axum server cannot
//! play: a connection dropped after the request was read, a request never
//! answered. Each connection gets the next action of a script (the last
//! repeats); every request is recorded with the instant it arrived.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Recorded, Reply};

/// What the server does with one connection, once it has read the request.
#[derive(Debug, Clone)]
pub enum Act {
    /// Close the connection without answering.
    Drop,
    /// Never answer (keep the connection open).
    Hang,
    /// Answer and close.
    Reply(Reply),
}

pub struct RawServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<(Instant, Recorded)>>>,
    _rt: tokio::runtime::Runtime,
}

impl RawServer {
    pub fn start(script: Vec<Act>) -> RawServer {
        assert!(!script.is_empty(), "a script needs at least one action");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (reqs, script) = (requests.clone(), Arc::new(Mutex::new(script)));
        rt.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (reqs, script) = (reqs.clone(), script.clone());
                tokio::spawn(async move { serve(stream, reqs, script).await });
            }
        });
        RawServer { addr, requests, _rt: rt }
    }

    /// The API base (`http://127.0.0.1:PORT/v1`).
    pub fn api_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().iter().map(|(_, r)| r.clone()).collect()
    }

    /// The time between the arrival of each request and the next.
    pub fn gaps(&self) -> Vec<Duration> {
        let r = self.requests.lock().unwrap();
        r.windows(2).map(|w| w[1].0 - w[0].0).collect()
    }
}

async fn serve(
    mut stream: tokio::net::TcpStream,
    reqs: Arc<Mutex<Vec<(Instant, Recorded)>>>,
    script: Arc<Mutex<Vec<Act>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default().to_string();
    let headers: std::collections::HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.clone(), String::new()),
    };
    reqs.lock().unwrap().push((Instant::now(), Recorded { method, path, query, headers, body }));
    let act = {
        let mut s = script.lock().unwrap();
        if s.len() > 1 {
            s.remove(0)
        } else {
            s[0].clone()
        }
    };
    match act {
        Act::Drop => drop(stream),
        Act::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Act::Reply(r) => {
            let mut out = format!(
                "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                r.status,
                r.body.len()
            );
            for (k, v) in &r.headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            out.push_str(&r.body);
            let _ = stream.write_all(out.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}
