//! Durability: every write the gateway acknowledged survives `kill -9`.
//!
//! Eight client threads create users as fast as the gateway accepts them; once a few hundred
//! have been acknowledged (and while more are in flight) the process is killed with SIGKILL.
//! A new gateway on the same data directory must open the store cleanly and hold every
//! acknowledged user, reachable by id and through the `userName` index.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scim_gateway_e2e::{Gateway, parts, scratch_dir, user};

/// Acknowledged writes to wait for before killing the server.
const ACKED_BEFORE_KILL: usize = 300;

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = scratch_dir("crash");
    let mut gw = Gateway::start_in(&dir, &[]);
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|t| {
            let (acked, stop) = (acked.clone(), stop.clone());
            let (base, client) = (gw.base.clone(), gw.client.clone());
            std::thread::spawn(move || {
                // Bounded: at most 10,000 attempts per thread, and the kill ends it sooner.
                for i in 0..10_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let name = format!("crash-{t}-{i}@example.com");
                    let sent = client
                        .post(format!("{base}/Users"))
                        .bearer_auth(scim_gateway_e2e::TOKEN)
                        .header("content-type", "application/scim+json")
                        .body(user(&name).to_string())
                        .send();
                    let Ok(response) = sent else { break };
                    let (status, body) = parts(response);
                    if status != 201 {
                        break;
                    }
                    let id = body["id"].as_str().unwrap_or_default().to_owned();
                    acked.lock().unwrap().push((name, id));
                }
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < ACKED_BEFORE_KILL && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    gw.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= ACKED_BEFORE_KILL,
        "only {} writes acknowledged before the deadline",
        acked.len()
    );

    let gw = Gateway::start_in(&dir, &[]);
    let (status, list) = parts(gw.get("/Users?count=0"));
    assert_eq!(status, 200);
    let total = list["totalResults"].as_u64().unwrap();
    assert!(
        total >= acked.len() as u64,
        "{total} users stored, {} acknowledged",
        acked.len()
    );
    for (name, id) in &acked {
        let (status, body) = parts(gw.get(&format!("/Users/{id}")));
        assert_eq!(
            status, 200,
            "acknowledged user {name} ({id}) is missing after kill -9"
        );
        assert_eq!(body["userName"], name.as_str());
        let filter = format!("/Users?filter=userName%20eq%20%22{name}%22");
        let (_, found) = parts(gw.get(&filter));
        assert_eq!(found["totalResults"], 1, "the userName index lost {name}");
    }
    // The store keeps working after recovery.
    let (status, _) = parts(gw.post("/Users", &user("after-crash@example.com")));
    assert_eq!(status, 201);
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}
