//! Verification of certificate client assertions (RFC 7523 JWTs signed RS256 or PS256) as
//! Entra ID does it: signature against the registered certificate, thumbprint header,
//! audience = the token endpoint, issuer = subject = client id, not expired.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

use super::Shared;

pub(super) fn verify(assertion: &str, shared: &Shared, endpoint: &str) -> bool {
    let Some(cert_der) = shared.opts.client_certificate_der.as_ref() else {
        return false;
    };
    let mut parts = assertion.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let decode = |x: &str| B64.decode(x).ok();
    let (Some(header), Some(payload), Some(sig)) = (decode(h), decode(p), decode(s)) else {
        return false;
    };
    let (Ok(header), Ok(payload)) = (
        serde_json::from_slice::<Value>(&header),
        serde_json::from_slice::<Value>(&payload),
    ) else {
        return false;
    };
    use sha2::Digest;
    let s256 = B64.encode(sha2::Sha256::digest(cert_der));
    let thumb_ok = header.get("x5t#S256").and_then(Value::as_str) == Some(s256.as_str());
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        Some("PS256") => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        _ => return false,
    };
    let now = alert_model::Timestamp::now().unix_nanos() / 1_000_000_000;
    let claims_ok = payload.get("aud").and_then(Value::as_str) == Some(endpoint)
        && payload.get("iss").and_then(Value::as_str) == Some(shared.client_id.as_str())
        && payload.get("sub").and_then(Value::as_str) == Some(shared.client_id.as_str())
        && payload.get("jti").and_then(Value::as_str).is_some()
        && payload
            .get("exp")
            .and_then(Value::as_i64)
            .is_some_and(|e| i128::from(e) > now);
    let der = rustls_pki_types::CertificateDer::from(cert_der.as_slice());
    let Ok(cert) = webpki::EndEntityCert::try_from(&der) else {
        return false;
    };
    let signed = &assertion.as_bytes()[..h.len() + 1 + p.len()];
    thumb_ok && claims_ok && cert.verify_signature(alg, signed, &sig).is_ok()
}
