//! The name formats of the Kubernetes API (`k8s.io/apimachinery/pkg/util/validation`).
//!
//! Each check is a plain byte scan: no regular expressions, no allocation.

/// True for a DNS-1123 label: 1–63 characters, lowercase letters, digits and `-`, starting and
/// ending with a letter or digit (namespaces, Service port names, endpoint hostnames).
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && is_label_body(s)
}

/// True for a DNS-1123 subdomain: at most 253 characters, one or more DNS-1123 label bodies
/// joined by `.` (node names, EndpointSlice names, ExternalName targets).
///
/// Like Kubernetes, the 63-character limit is not applied to each part, only to the whole.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_label_body)
}

/// True for a DNS-1035 label: 1–63 characters, lowercase letters, digits and `-`, starting with
/// a letter and ending with a letter or digit (Service names).
pub fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

/// True for an IANA service name (RFC 6335 §5.1), the form of a named `targetPort`: 1–15
/// characters, lowercase letters, digits and `-`, at least one letter, no `-` at either end and
/// no `--`.
pub fn is_iana_service_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 15
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && b.iter().any(u8::is_ascii_lowercase)
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
        && !s.contains("--")
}

/// True for a label value: empty, or at most 63 characters of letters, digits, `-`, `_` and `.`
/// starting and ending with a letter or digit (zone names in topology hints).
pub fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (None, _) | (_, None) => true,
        (Some(first), Some(last)) => {
            b.len() <= 63
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
    }
}

/// One label without the length limit: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn is_label_body(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            alnum(first) && alnum(last) && b.iter().all(|c| alnum(c) || *c == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1123_label() {
        for ok in ["a", "0", "my-api", "a1-b2", &"x".repeat(63)] {
            assert!(is_dns1123_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"x".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
    }

    #[test]
    fn dns1123_subdomain() {
        for ok in ["api.stripe.com", "node-eu-west-1a", "a", &"x".repeat(100)] {
            assert!(is_dns1123_subdomain(ok), "{ok}");
        }
        let long = ["a"; 127].join(".") + ".bb";
        assert_eq!(long.len(), 256);
        for bad in ["", ".a", "a.", "a..b", "A.b", "a_b.c", "-a.b", &long] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
    }

    #[test]
    fn dns1035_label() {
        assert!(is_dns1035_label("pricing-engine-svc"));
        assert!(!is_dns1035_label("1abc"));
        assert!(!is_dns1035_label(""));
        assert!(!is_dns1035_label("abc-"));
    }

    #[test]
    fn iana_service_name() {
        for ok in ["http", "metrics", "h2c", "a-b-c", "abcdefghijklmno"] {
            assert!(is_iana_service_name(ok), "{ok}");
        }
        for bad in [
            "",
            "8080",
            "-http",
            "http-",
            "ht--tp",
            "HTTP",
            "abcdefghijklmnop",
            "a_b",
        ] {
            assert!(!is_iana_service_name(bad), "{bad}");
        }
    }

    #[test]
    fn label_value() {
        for ok in ["", "eu-west-1a", "Zone_A.1", "a"] {
            assert!(is_label_value(ok), "{ok}");
        }
        for bad in ["-a", "a-", "a b", ".a", &"x".repeat(64)] {
            assert!(!is_label_value(bad), "{bad}");
        }
    }
}
