//! What a peer may hold of the listener (`[http]`): slow peers are cut off by the header and
//! body timeouts, and however many there are, normal clients are still served.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use scim_gateway_e2e::{Gateway, TOKEN, user};

/// The gateway's `host:port`.
fn address(gw: &Gateway) -> String {
    gw.origin().trim_start_matches("http://").to_owned()
}

/// What the server sends on `s` until it closes it (or `within` passes: then `None`).
fn until_closed(s: &mut TcpStream, within: Duration) -> Option<String> {
    s.set_read_timeout(Some(within)).expect("timeout");
    let mut got = Vec::new();
    match s.read_to_end(&mut got) {
        Ok(_) => Some(String::from_utf8_lossy(&got).into_owned()),
        // A reset is closed too.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            Some(String::from_utf8_lossy(&got).into_owned())
        }
        Err(_) => None,
    }
}

/// Three times `max_connections` sockets drip a request head a byte at a time, and more send
/// nothing at all; a normal client is answered throughout, and every slow socket is closed by
/// the header timeout.
#[test]
fn slow_sockets_are_cut_off_and_normal_clients_are_still_served() {
    let gw = Gateway::start_with_config(
        "[http]\nmax_connections = 16\nheader_timeout_ms = 1000\nbody_timeout_ms = 1000\n",
    );
    let addr = address(&gw);
    let mut slow: Vec<TcpStream> = (0..48)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).expect("connect");
            s.write_all(b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\n")
                .expect("write");
            s
        })
        .collect();
    let silent: Vec<TcpStream> = (0..16)
        .map(|_| TcpStream::connect(&addr).expect("connect"))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let dripping = {
        let stop = stop.clone();
        let mut writers: Vec<TcpStream> =
            slow.iter().map(|s| s.try_clone().expect("clone")).collect();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for w in &mut writers {
                    // Closed by the server soon: later writes fail, which is the point.
                    let _ = w.write_all(b"X");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // A fresh connection a request: an idle one would be closed by the 1 s timeout too.
    let client = reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let users = format!("{}/scim/v2/Users", gw.origin());
    for i in 0..10 {
        let r = client
            .post(&users)
            .bearer_auth(TOKEN)
            .header("content-type", "application/scim+json")
            .body(user(&format!("normal{i}@example.com")).to_string())
            .send()
            .expect("a normal client is answered");
        assert_eq!(r.status(), 201, "normal client {i}");
    }
    stop.store(true, Ordering::Relaxed);
    dripping.join().expect("dripping thread");
    for (i, s) in slow.iter_mut().enumerate() {
        let answer = until_closed(s, Duration::from_secs(60));
        assert!(answer.is_some(), "slow socket {i} is still open");
    }
    drop(silent);
    let listed: serde_json::Value = client
        .get(format!("{users}?count=0"))
        .bearer_auth(TOKEN)
        .send()
        .expect("list")
        .json()
        .expect("JSON");
    assert_eq!(listed["totalResults"], 10);
}

/// A request whose head arrived but whose body does not is answered `408` with a SCIM error
/// once `body_timeout_ms` passes, and nothing is written.
#[test]
fn a_body_that_does_not_arrive_is_a_408() {
    let gw = Gateway::start_with_config("[http]\nbody_timeout_ms = 1000\n");
    let before = gw.list("/Users", &[("count", "0")]);
    assert_eq!(before["totalResults"], 0);
    let mut s = TcpStream::connect(address(&gw)).expect("connect");
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: 200\r\n\r\n{{\"schemas\":"
    );
    s.write_all(head.as_bytes()).expect("write");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut got = vec![0u8; 4096];
    let n = s.read(&mut got).expect("an answer");
    let answer = String::from_utf8_lossy(&got[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("urn:ietf:params:scim:api:messages:2.0:Error"),
        "{answer}"
    );
    assert!(answer.contains("did not arrive in time"), "{answer}");
    let listed = gw.list("/Users", &[("count", "0")]);
    assert_eq!(listed["totalResults"], 0, "nothing was written");
}
