//! Access tokens: compact JWTs signed with HMAC-SHA256 (RFC 7519, `alg` HS256 only).

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

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

pub fn sign(claims: &AccessClaims, secret: &[u8]) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let signing_input = format!("{}.{}", B64.encode(HEADER), B64.encode(payload));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(mac.finalize().into_bytes()))
}

#[derive(Debug, PartialEq, Eq)]
pub enum VerifyError {
    Malformed,
    Expired,
}

/// Verifies signature, algorithm and expiry (`now_s`).
pub fn verify(token: &str, secret: &[u8], now_s: i64) -> Result<AccessClaims, VerifyError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(VerifyError::Malformed);
    };
    let header: serde_json::Value = B64.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or(VerifyError::Malformed)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(VerifyError::Malformed);
    }
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

    #[test]
    fn round_trip_and_expiry() {
        let t = sign(&claims(100), b"secret");
        assert_eq!(verify(&t, b"secret", 99).unwrap(), claims(100));
        assert_eq!(verify(&t, b"secret", 100), Err(VerifyError::Expired));
    }

    #[test]
    fn tampering_and_wrong_key_fail() {
        let t = sign(&claims(100), b"secret");
        assert_eq!(verify(&t, b"other", 0), Err(VerifyError::Malformed));
        let forged_payload = B64.encode(serde_json::to_vec(&AccessClaims { sub: "usr_admin".into(), ..claims(100) }).unwrap());
        let parts: Vec<&str> = t.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(verify(&forged, b"secret", 0), Err(VerifyError::Malformed));
        let none_alg = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), parts[1]);
        assert_eq!(verify(&none_alg, b"secret", 0), Err(VerifyError::Malformed));
        assert_eq!(verify("garbage", b"secret", 0), Err(VerifyError::Malformed));
    }
}
