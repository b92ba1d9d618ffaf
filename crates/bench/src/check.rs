//! Quick-mode content check: every kept frame parses with the strict parser of its format,
//! and the alert ids received are exactly the ids served, each once.

use std::collections::HashSet;

use anyhow::{Context, bail};

/// The alert id carried by one syslog frame, parsed strictly.
fn id_of(format: &str, frame: &[u8]) -> anyhow::Result<String> {
    let text = std::str::from_utf8(frame).context("frame is not UTF-8")?;
    let payload = |tag: &str| -> anyhow::Result<&str> {
        text.find(tag)
            .map(|i| &text[i..])
            .with_context(|| format!("no {tag} in frame"))
    };
    let id = match format {
        "cef" => sim::parse::cef::parse(payload("CEF:")?)
            .map_err(|e| anyhow::anyhow!("CEF: {e}"))?
            .get("cs2")
            .map(str::to_owned),
        "leef" => sim::parse::leef::parse(payload("LEEF:")?)
            .map_err(|e| anyhow::anyhow!("LEEF: {e}"))?
            .get("alertId")
            .map(str::to_owned),
        _ => sim::parse::rfc5424::parse(text)
            .map_err(|e| anyhow::anyhow!("RFC 5424: {e}"))?
            .sd_param("defender@32473", "id")
            .map(str::to_owned),
    };
    id.context("frame carries no alert id")
}

/// Fails on the first malformed frame, a duplicate, or a missing or invented id.
pub fn frames(format: &str, frames: &[Vec<u8>], count: u64) -> anyhow::Result<()> {
    let mut seen = HashSet::with_capacity(frames.len());
    for (n, f) in frames.iter().enumerate() {
        let id = id_of(format, f).with_context(|| {
            format!(
                "frame {n} malformed: {:?}",
                String::from_utf8_lossy(&f[..f.len().min(200)])
            )
        })?;
        if !seen.insert(id.clone()) {
            bail!("alert {id} delivered twice");
        }
    }
    let missing: Vec<String> = (0..count)
        .map(sim::defender::generated_id)
        .filter(|id| !seen.remove(id))
        .take(5)
        .collect();
    if !missing.is_empty() {
        bail!("alerts missing, e.g. {missing:?}");
    }
    if !seen.is_empty() {
        bail!("{} alert(s) never served arrived", seen.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cef(id: &str) -> Vec<u8> {
        format!("<82>1 2024-05-01T10:00:00.000000Z h defender-syslog - ALERT - CEF:0|Microsoft|Defender for Endpoint|1.0|X|T|5|cs2={id} cs2Label=AlertId").into_bytes()
    }

    #[test]
    fn exact_ids_pass_and_every_kind_of_loss_fails() {
        let ids: Vec<String> = (0..3).map(sim::defender::generated_id).collect();
        let good: Vec<Vec<u8>> = ids.iter().map(|i| cef(i)).collect();
        frames("cef", &good, 3).unwrap();
        let missing = frames("cef", &good[..2], 3).unwrap_err().to_string();
        assert!(missing.contains("missing"), "{missing}");
        let mut dup = good.clone();
        dup[2] = good[0].clone();
        assert!(
            frames("cef", &dup, 3)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let mut invented = good.clone();
        invented.push(cef("da-not-served"));
        assert!(
            frames("cef", &invented, 3)
                .unwrap_err()
                .to_string()
                .contains("never served")
        );
        let mut bad = good.clone();
        bad[1] = b"<82>1 - h defender-syslog - ALERT - CEF:0|broken".to_vec();
        assert!(
            frames("cef", &bad, 3)
                .unwrap_err()
                .to_string()
                .contains("malformed")
        );
    }
}
