//! What the hub client and the server's remote engines share about addresses and errors.

/// Whether `url`'s host is this machine (a local mirror, a local engine, the tests' servers):
/// such an address is reached directly, since a proxy elsewhere cannot reach this loopback.
pub fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An error with its sources on one line, each said once: reqwest's top message alone
/// ("error sending request") does not say what failed.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{error_chain, is_loopback};

    fn loopback(address: &str) -> bool {
        is_loopback(&reqwest::Url::parse(address).unwrap())
    }

    #[test]
    fn an_error_chain_says_each_cause_once() {
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl std::fmt::Display for Layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Layer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|l| l as _)
            }
        }
        let refused = Layer("connection refused", None);
        let connect = Layer("connect: connection refused", Some(Box::new(refused)));
        let top = Layer("error sending request", Some(Box::new(connect)));
        assert_eq!(
            error_chain(&top),
            "error sending request: connect: connection refused"
        );
    }

    #[test]
    fn loopback_addresses_are_told_apart() {
        assert!(loopback("http://127.0.0.1:8080"));
        assert!(loopback("http://localhost:8080/"));
        assert!(loopback("http://[::1]:8080"));
        assert!(!loopback("https://huggingface.co"));
        assert!(!loopback("https://hf-mirror.com"));
    }
}
