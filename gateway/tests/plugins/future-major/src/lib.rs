//! `future-major`: a component built against a future, incompatible major version of the
//! contract (`scim-gateway:connector@1.0.0`), which the runtime must refuse by name.

wit_bindgen::generate!({
    inline: r#"
        package scim-gateway:connector@1.0.0;

        /// A provisioner of the imaginary next major version.
        interface provisioner {
            /// Says hello.
            describe: func() -> string;
        }

        world connector {
            export provisioner;
        }
    "#,
});

/// The connector.
struct Future;

impl exports::scim_gateway::connector::provisioner::Guest for Future {
    fn describe() -> String {
        "from the future".to_owned()
    }
}

#[cfg(target_arch = "wasm32")]
export!(Future);
