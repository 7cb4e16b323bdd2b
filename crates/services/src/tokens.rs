//! Access tokens: compact JWTs signed with HMAC-SHA256 (RFC 7519, `alg` HS256 only), whose
//! header names the signing key (`kid`: the id of the master key it was derived from).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub sub: String,
    pub org: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub typ: String,
}

pub fn sign(claims: &AccessClaims, kid: &str, secret: &[u8]) -> String {
    let header = serde_json::json!({"alg": "HS256", "kid": kid, "typ": "JWT"});
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let signing_input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(payload));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(mac.finalize().into_bytes()))
}

#[derive(Debug, PartialEq, Eq)]
pub enum VerifyError {
    Malformed,
    Expired,
}

/// Verifies signature (with the key `key_for` gives for the header's `kid`; a token without a
/// `kid`, or naming a key not held, is refused), algorithm and expiry (`now_s`).
pub fn verify<'k>(token: &str, key_for: impl Fn(&str) -> Option<&'k [u8]>, now_s: i64) -> Result<AccessClaims, VerifyError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(VerifyError::Malformed);
    };
    let header: serde_json::Value = B64.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or(VerifyError::Malformed)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(VerifyError::Malformed);
    }
    let secret = header.get("kid").and_then(|k| k.as_str()).and_then(key_for).ok_or(VerifyError::Malformed)?;
    let signature = B64.decode(s).map_err(|_| VerifyError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    mac.verify_slice(&signature).map_err(|_| VerifyError::Malformed)?;
    let claims: AccessClaims = B64.decode(p).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or(VerifyError::Malformed)?;
    if claims.typ != "access" {
        return Err(VerifyError::Malformed);
    }
    if claims.exp <= now_s {
        return Err(VerifyError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims { sub: "usr_1".into(), org: "org_1".into(), sid: "ses_1".into(), iat: 0, exp, typ: "access".into() }
    }

    fn held(kid: &str) -> Option<&'static [u8]> {
        match kid {
            "k1" => Some(b"secret"),
            "k2" => Some(b"other"),
            _ => None,
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let t = sign(&claims(100), "k1", b"secret");
        assert_eq!(verify(&t, held, 99).unwrap(), claims(100));
        assert_eq!(verify(&t, held, 100), Err(VerifyError::Expired));
    }

    #[test]
    fn tampering_and_wrong_key_fail() {
        let t = sign(&claims(100), "k1", b"secret");
        assert_eq!(verify(&sign(&claims(100), "k2", b"secret"), held, 0), Err(VerifyError::Malformed));
        assert_eq!(verify(&sign(&claims(100), "k3", b"secret"), held, 0), Err(VerifyError::Malformed));
        let no_kid = format!("{}.{}", B64.encode(r#"{"alg":"HS256","typ":"JWT"}"#), t.split_once('.').unwrap().1);
        assert_eq!(verify(&no_kid, |_| Some(b"secret".as_slice()), 0), Err(VerifyError::Malformed));
        let forged_payload = B64.encode(serde_json::to_vec(&AccessClaims { sub: "usr_admin".into(), ..claims(100) }).unwrap());
        let parts: Vec<&str> = t.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(verify(&forged, held, 0), Err(VerifyError::Malformed));
        let none_alg = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), parts[1]);
        assert_eq!(verify(&none_alg, held, 0), Err(VerifyError::Malformed));
        assert_eq!(verify("garbage", held, 0), Err(VerifyError::Malformed));
    }
}
