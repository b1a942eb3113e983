//! Durability: every write the gateway acknowledged survives `kill -9`.
//!
//! Eight client threads create users as fast as the gateway accepts them; once a few hundred
//! have been acknowledged (and while more are in flight) the process is killed with SIGKILL.
//! A new gateway on the same data directory must open the store cleanly and hold every
//! acknowledged user, reachable by id and through the `userName` index.

use scim_gateway_e2e::{Gateway, Writers, parts, scratch_dir, user};

/// Acknowledged writes to wait for before killing the server.
const ACKED_BEFORE_KILL: usize = 300;

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = scratch_dir("crash");
    let mut gw = Gateway::start_in(&dir, &[]);
    // Bounded: at most 10,000 writes per thread, and the kill ends them sooner.
    let writers = Writers::start(&gw, "crash", 8, 10_000);
    writers.wait_for(ACKED_BEFORE_KILL);
    gw.kill9();
    let acked = writers.join();

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
}
