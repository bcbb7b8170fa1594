//! Verification of minisign (ed25519) signatures.
//!
//! The format is minisign's, so a release can be checked by hand with the stock `minisign` tool
//! (`minisign -Vm <file> -P <key>`), and keys look like tauri's updater keys. Signing lives in the
//! packer (crate `minisign`); verification here uses `minisign-verify`, a small audited crate
//! with no signing code, so the launcher carries only what it needs. No crypto is written here.

use minisign_verify::{PublicKey, Signature};

/// Why a signature or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key is not a minisign key.
    #[error("invalid public key: {0}")]
    BadKey(String),
    /// The signature text is not a minisign signature.
    #[error("invalid signature: {0}")]
    BadSignature(String),
    /// Signed, but by a key other than the expected one.
    #[error("signed by another key than the one this binary trusts")]
    OtherKey,
    /// Signed by the expected key, but not over this data.
    #[error("signature does not match the data: it was modified after signing")]
    Mismatch,
}

/// Parses a public key given as its base64 line (`RW…`) or as a whole minisign `.pub` file.
pub fn parse_public_key(text: &str) -> Result<PublicKey, SignatureError> {
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:"));
    let line = line.ok_or_else(|| SignatureError::BadKey("empty key".into()))?;
    PublicKey::from_base64(line).map_err(|e| SignatureError::BadKey(e.to_string()))
}

/// Parses the text of a minisign signature file.
pub fn parse_signature(text: &str) -> Result<Signature, SignatureError> {
    Signature::decode(text).map_err(|e| SignatureError::BadSignature(e.to_string()))
}

fn refusal(e: minisign_verify::Error) -> SignatureError {
    match e {
        minisign_verify::Error::UnexpectedKeyId => SignatureError::OtherKey,
        minisign_verify::Error::UnexpectedAlgorithm | minisign_verify::Error::UnsupportedAlgorithm => {
            SignatureError::BadSignature("legacy (non-prehashed) signatures are not accepted".into())
        }
        _ => SignatureError::Mismatch,
    }
}

/// Verifies `signature_text` (a minisign signature file's content) over `data` with `public_key`.
/// Returns the signature's trusted comment, which minisign also signs.
pub fn verify(data: &[u8], signature_text: &str, public_key: &str) -> Result<String, SignatureError> {
    let key = parse_public_key(public_key)?;
    let signature = parse_signature(signature_text)?;
    key.verify(data, &signature, false).map_err(refusal)?;
    Ok(signature.trusted_comment().to_owned())
}

/// A signature checked over data fed in pieces (a download or a file of any size, never held in
/// memory whole): the one streaming check of the launcher and the packer. Only prehashed
/// signatures stream, which is all `sea-pack` writes (and `minisign` by default).
pub struct Streaming<'a> {
    verifier: minisign_verify::StreamVerifier<'a>,
}

impl std::fmt::Debug for Streaming<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming").finish_non_exhaustive()
    }
}

impl<'a> Streaming<'a> {
    /// Starts the check of `signature` by whichever of `keys` its key id names; none of them:
    /// [`SignatureError::OtherKey`].
    pub fn start(signature: &'a Signature, keys: &'a [PublicKey]) -> Result<Self, SignatureError> {
        let mut found = Err(SignatureError::OtherKey);
        for key in keys {
            match key.verify_stream(signature) {
                Ok(verifier) => return Ok(Self { verifier }),
                Err(minisign_verify::Error::UnexpectedKeyId) => {}
                Err(other) => found = Err(SignatureError::BadSignature(other.to_string())),
            }
        }
        found.map(|never: std::convert::Infallible| match never {})
    }

    /// Feeds the next piece of the data.
    pub fn update(&mut self, piece: &[u8]) {
        self.verifier.update(piece);
    }

    /// Whether the signature covers exactly the data fed.
    pub fn finish(mut self) -> Result<(), SignatureError> {
        self.verifier.finalize().map_err(refusal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keypair() -> (String, minisign::SecretKey) {
        let pair = minisign::KeyPair::generate_unencrypted_keypair().expect("keypair");
        (pair.pk.to_base64(), pair.sk)
    }

    fn sign(sk: &minisign::SecretKey, data: &[u8]) -> String {
        minisign::sign(None, sk, data, Some("sea test"), None).expect("sign").into_string()
    }

    #[test]
    fn verifies_and_tells_failures_apart() {
        let (pk, sk) = keypair();
        let (other_pk, other_sk) = keypair();
        let sig = sign(&sk, b"payload");
        assert_eq!(verify(b"payload", &sig, &pk), Ok("sea test".to_owned()));
        assert_eq!(verify(b"payloaD", &sig, &pk), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"payload", &sign(&other_sk, b"payload"), &pk), Err(SignatureError::OtherKey));
        assert_eq!(verify(b"payload", &sig, &other_pk), Err(SignatureError::OtherKey));
        assert!(matches!(verify(b"payload", "garbage", &pk), Err(SignatureError::BadSignature(_))));
        assert!(matches!(verify(b"payload", &sig, "RWQ"), Err(SignatureError::BadKey(_))));
        let pub_file = format!("untrusted comment: minisign public key\n{pk}\n");
        assert!(parse_public_key(&pub_file).is_ok());
    }

    #[test]
    fn a_streamed_check_finds_its_key_and_needs_every_byte() {
        let (pk, sk) = keypair();
        let (other_pk, _) = keypair();
        let data = vec![7u8; 300_000];
        let sig = parse_signature(&sign(&sk, &data)).expect("signature");
        let keys = [parse_public_key(&other_pk).expect("key"), parse_public_key(&pk).expect("key")];
        let mut streaming = Streaming::start(&sig, &keys).expect("the second key is the signer");
        for piece in data.chunks(65_536) {
            streaming.update(piece);
        }
        assert_eq!(streaming.finish(), Ok(()));
        let mut short = Streaming::start(&sig, &keys).expect("start");
        short.update(&data[1..]);
        assert_eq!(short.finish(), Err(SignatureError::Mismatch));
        assert_eq!(Streaming::start(&sig, &keys[..1]).map(drop), Err(SignatureError::OtherKey));
    }
}
