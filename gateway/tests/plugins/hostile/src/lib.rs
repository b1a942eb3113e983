//! `hostile`: a test plugin that misbehaves on demand (configuration key `mode`), to check that
//! the runtime contains each kind of misbehaviour and names it. It is a `readable-connector`, so
//! it also serves the world-detection and read tests.

use scim_gateway_plugin_sdk::{
    Connector, Delivered, DeliveryError, Descriptor, Event, Page, ReadableConnector, http, log,
};

/// The connector.
pub struct Hostile;

impl Connector for Hostile {
    fn describe() -> Descriptor {
        Descriptor::new()
            .required_config("mode", "What to do")
            .secret("api-token")
    }

    fn provision(event: Event) -> Result<Delivered, DeliveryError> {
        let mode = event.require_config("mode")?;
        match mode {
            "ok" => Ok(Delivered::new(format!("ok-{}", event.id))),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "alloc" => {
                let big = vec![1u8; 1 << 30];
                Ok(Delivered::new(format!(
                    "{}",
                    std::hint::black_box(big).len()
                )))
            }
            "panic" => panic!("hostile plugin panics on purpose"),
            "unreachable" => {
                #[cfg(target_arch = "wasm32")]
                core::arch::wasm32::unreachable();
                #[cfg(not(target_arch = "wasm32"))]
                unreachable!()
            }
            "fetch" => {
                let url = event.require_config("url")?;
                let response = http::Request::get(url).send()?;
                Ok(Delivered::new(format!(
                    "status-{}-len-{}",
                    response.status,
                    response.body.len()
                )))
            }
            "host-header" => {
                let url = event.require_config("url")?;
                http::Request::get(url)
                    .header("Host", "internal.example")
                    .send()?;
                Ok(Delivered::new("sent"))
            }
            "secret-override" => {
                // Its own `authorization` next to the one the host fills from `api-token`.
                let url = event.require_config("url")?;
                http::Request::get(url)
                    .header("authorization", "Bearer chosen-by-the-plugin")
                    .secret_header("Authorization", "api-token", "Bearer ")
                    .send()?;
                Ok(Delivered::new("sent"))
            }
            "fetch-many" => {
                // Requests `url` until the host refuses one (or a thousand went through).
                let url = event.require_config("url")?;
                let mut sent = 0;
                while sent < 1000 {
                    if let Err(e) = http::Request::get(url).send() {
                        let e = DeliveryError::from(e);
                        return Err(DeliveryError::permanent(format!(
                            "{sent} sent, then: {}",
                            e.message
                        )));
                    }
                    sent += 1;
                }
                Ok(Delivered::new(format!("sent-{sent}")))
            }
            "huge-id" => Ok(Delivered::new("x".repeat(32 << 20))),
            "huge-id-100m" => Ok(Delivered::new("x".repeat(100 << 20))),
            "log-flood" => {
                let line = "y".repeat(64 << 10);
                for i in 0..20_000 {
                    log::info(format!("flood {i} {line}"));
                }
                for _ in 0..1000 {
                    eprintln!("{line}");
                }
                Ok(Delivered::new("flooded"))
            }
            "secret-echo" => {
                // What comes back from a target that echoes the secret header, and a TRACE.
                let url = event.require_config("url")?;
                let r = http::Request::get(url)
                    .secret_header("Authorization", "api-token", "Bearer ")
                    .send()?;
                let trace = match http::Request::new("TRACE", url).send() {
                    Ok(t) => format!("sent {}", t.status),
                    Err(e) => format!("refused: {e:?}"),
                };
                Ok(Delivered::new(format!(
                    "{} | {} | {trace}",
                    r.text(),
                    r.header("x-echo").unwrap_or_default()
                )))
            }
            "secret-probe" => {
                // A secret it never declared, through a header and as an HMAC key.
                let url = event.require_config("url")?;
                let header = http::Request::get(url)
                    .secret_header("Authorization", "db-password", "")
                    .send();
                let hmac = scim_gateway_plugin_sdk::hmac_sha256("db-password", b"x");
                Ok(Delivered::new(format!(
                    "{:?} | {:?}",
                    header.map(|r| r.status),
                    hmac
                )))
            }
            "secret-oracle" => {
                // Its header secret as an HMAC key: signatures of chosen data would let it
                // guess the token offline.
                let hmac = scim_gateway_plugin_sdk::hmac_sha256("api-token", b"guess");
                Ok(Delivered::new(format!("{hmac:?}")))
            }
            "log-forge" => {
                log::warn(
                    "delivered\n2026-12-06T00:00:00.000000Z  INFO scim_gateway::admin: forged line",
                );
                eprintln!("fine\r\u{1b}[2K\u{202e}INFO forged by stderr");
                Ok(Delivered::new("forged"))
            }
            "snoop" => {
                let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                let args: Vec<String> = std::env::args().collect();
                let cwd = std::env::current_dir();
                Err(DeliveryError::permanent(format!(
                    "env={env:?} args={args:?} cwd={cwd:?} config={:?} event={:?}",
                    event.config, event.resource
                )))
            }
            other => Err(DeliveryError::permanent(format!("unknown mode `{other}`"))),
        }
    }
}

impl ReadableConnector for Hostile {
    fn get(
        resource_type: &str,
        remote_id: &str,
        _config: &[(String, String)],
    ) -> Result<Option<String>, DeliveryError> {
        if remote_id == "missing" {
            return Ok(None);
        }
        Ok(Some(format!(
            r#"{{"id":"{remote_id}","meta":{{"resourceType":"{resource_type}"}}}}"#
        )))
    }

    fn list(
        resource_type: &str,
        _filter: Option<&str>,
        start_index: u32,
        count: u32,
        _config: &[(String, String)],
    ) -> Result<Page, DeliveryError> {
        let ids: Vec<serde_json::Value> = (start_index..start_index + count)
            .map(|i| serde_json::json!({ "id": format!("{resource_type}-{i}") }))
            .collect();
        Page::of(100, &ids)
    }
}

scim_gateway_plugin_sdk::export_readable_connector!(Hostile);
