//! What the hub client and the server's remote engines share about addresses.

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

#[cfg(test)]
mod tests {
    use super::is_loopback;

    fn loopback(address: &str) -> bool {
        is_loopback(&reqwest::Url::parse(address).unwrap())
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
