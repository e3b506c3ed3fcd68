//! Encryption at rest with age (age-encryption.org/v1, interoperable with the
//! `age` and `rage` command-line tools). Encryption is one more layer of the
//! single streaming pass: compressed bytes go through the age writer before
//! they are hashed and written, so no plaintext of an encrypted backup ever
//! touches the disk, and the sidecar hashes the stored (encrypted) bytes, so
//! integrity checks need no key. Keys: x25519 recipients (`age1...`, or files
//! listing them) or a passphrase file; decryption with an identity file or
//! the passphrase file.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use age::secrecy::SecretString;

use crate::{Error, Result};

/// How to encrypt a new backup.
#[derive(Clone)]
pub enum EncryptionKey {
    Recipients(Vec<age::x25519::Recipient>),
    Passphrase(SecretString),
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncryptionKey::Recipients(r) => f.debug_tuple("Recipients").field(&r.len()).finish(),
            EncryptionKey::Passphrase(_) => f.write_str("Passphrase(***)"),
        }
    }
}

impl EncryptionKey {
    /// What the manifest records: public keys, or that a passphrase was used.
    pub fn describe(&self) -> (Vec<String>, bool) {
        match self {
            EncryptionKey::Recipients(r) => (r.iter().map(|k| k.to_string()).collect(), false),
            EncryptionKey::Passphrase(_) => (Vec::new(), true),
        }
    }
}

/// `--encrypt-to`: each argument is an `age1...` public key or a file of
/// them (one per line, `#` comments allowed).
pub fn parse_recipients(args: &[String]) -> Result<EncryptionKey> {
    let mut recipients = Vec::new();
    for arg in args {
        if arg.starts_with("age1") {
            recipients.push(parse_recipient(arg, "--encrypt-to")?);
            continue;
        }
        let path = Path::new(arg);
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Usage(format!("--encrypt-to {arg}: neither an age1... public key nor a readable recipients file ({e})"))
        })?;
        let before = recipients.len();
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            recipients.push(parse_recipient(line, &format!("--encrypt-to {arg}"))?);
        }
        if recipients.len() == before {
            return Err(Error::Usage(format!(
                "--encrypt-to {arg}: the file lists no recipient"
            )));
        }
    }
    Ok(EncryptionKey::Recipients(recipients))
}

fn parse_recipient(text: &str, option: &str) -> Result<age::x25519::Recipient> {
    text.parse::<age::x25519::Recipient>().map_err(|e| {
        Error::Usage(format!(
            "{option}: {text:?} is not an age x25519 public key (age1...): {e}"
        ))
    })
}

/// The first line of a passphrase file (without its line ending).
pub fn read_passphrase(path: &Path) -> Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("passphrase file {}: {e}", path.display())))?;
    let line = text.lines().next().unwrap_or("").to_string();
    if line.is_empty() {
        return Err(Error::Usage(format!(
            "passphrase file {}: the first line is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(line))
}

/// How to decrypt: identities from a file, or a passphrase.
#[derive(Clone)]
pub enum DecryptionKey {
    Identities(Arc<Vec<Box<dyn age::Identity + Send + Sync>>>),
    Passphrase(SecretString),
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecryptionKey::Identities(i) => f.debug_tuple("Identities").field(&i.len()).finish(),
            DecryptionKey::Passphrase(_) => f.write_str("Passphrase(***)"),
        }
    }
}

/// `--identity FILE`: an age identity file (`AGE-SECRET-KEY-1...` lines).
pub fn read_identities(path: &Path) -> Result<DecryptionKey> {
    let bad =
        |e: &dyn std::fmt::Display| Error::Usage(format!("--identity {}: {e}", path.display()));
    let file =
        age::IdentityFile::from_file(path.to_string_lossy().into_owned()).map_err(|e| bad(&e))?;
    let identities = file.into_identities().map_err(|e| bad(&e))?;
    if identities.is_empty() {
        return Err(bad(&"no identity in the file"));
    }
    Ok(DecryptionKey::Identities(Arc::new(identities)))
}

/// A writer that encrypts (or passes through when no key is given).
pub enum Sealer<W: Write> {
    Clear(W),
    Age(age::stream::StreamWriter<W>),
}

impl<W: Write> std::fmt::Debug for Sealer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sealer::Clear(_) => "Sealer::Clear",
            Sealer::Age(_) => "Sealer::Age",
        })
    }
}

impl<W: Write> Sealer<W> {
    pub fn new(inner: W, key: Option<&EncryptionKey>) -> io::Result<Sealer<W>> {
        let encryptor = match key {
            None => return Ok(Sealer::Clear(inner)),
            Some(EncryptionKey::Passphrase(p)) => age::Encryptor::with_user_passphrase(p.clone()),
            Some(EncryptionKey::Recipients(r)) => {
                age::Encryptor::with_recipients(r.iter().map(|k| k as &dyn age::Recipient))
                    .map_err(|e| io::Error::other(format!("age: {e}")))?
            }
        };
        Ok(Sealer::Age(encryptor.wrap_output(inner)?))
    }

    /// Writes age's final chunk and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Sealer::Clear(w) => Ok(w),
            Sealer::Age(w) => w.finish(),
        }
    }
}

impl<W: Write> Write for Sealer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sealer::Clear(w) => w.write(buf),
            Sealer::Age(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sealer::Clear(w) => w.flush(),
            Sealer::Age(w) => w.flush(),
        }
    }
}

/// Opens an encrypted stream with `key`; a missing or wrong key is a clear
/// error naming what to pass.
pub fn open<'a, R: Read + 'a>(
    reader: R,
    key: Option<&DecryptionKey>,
) -> Result<Box<dyn Read + 'a>> {
    let decryptor = age::Decryptor::new(reader)
        .map_err(|e| Error::Failed(format!("not a readable age file: {e}")))?;
    let Some(key) = key else {
        return Err(Error::Usage(
            "the backup is encrypted: give --identity FILE or --passphrase-file FILE".into(),
        ));
    };
    let stream = match key {
        DecryptionKey::Identities(ids) => {
            decryptor.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
        }
        DecryptionKey::Passphrase(p) => {
            let identity = age::scrypt::Identity::new(p.clone());
            decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity))
        }
    };
    match stream {
        Ok(stream) => Ok(Box::new(stream)),
        Err(age::DecryptError::NoMatchingKeys) | Err(age::DecryptError::DecryptionFailed) => {
            Err(Error::Failed(
                "wrong key: the given identity or passphrase does not open this backup".into(),
            ))
        }
        Err(e) => Err(Error::Failed(format!("cannot decrypt: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_recipients_and_wrong_key_is_refused() {
        let identity = age::x25519::Identity::generate();
        let key = EncryptionKey::Recipients(vec![identity.to_public()]);
        let mut sealer = Sealer::new(Vec::new(), Some(&key)).unwrap();
        sealer.write_all(b"secret rows").unwrap();
        let sealed = sealer.finish().unwrap();
        assert!(sealed.starts_with(b"age-encryption.org/v1"));
        assert!(!sealed.windows(6).any(|w| w == b"secret"));

        let ids: Vec<Box<dyn age::Identity + Send + Sync>> = vec![Box::new(identity)];
        let right = DecryptionKey::Identities(Arc::new(ids));
        let mut out = String::new();
        open(sealed.as_slice(), Some(&right))
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "secret rows");

        let other: Vec<Box<dyn age::Identity + Send + Sync>> =
            vec![Box::new(age::x25519::Identity::generate())];
        let wrong = DecryptionKey::Identities(Arc::new(other));
        let err = open(sealed.as_slice(), Some(&wrong)).err().unwrap();
        assert!(err.to_string().contains("wrong key"), "{err}");
        let err = open(sealed.as_slice(), None).err().unwrap();
        assert!(err.to_string().contains("--identity"), "{err}");
    }

    #[test]
    fn recipients_are_checked() {
        assert!(parse_recipients(&["age1nope".into()]).is_err());
        assert!(parse_recipients(&["/nonexistent/file".into()]).is_err());
        let id = age::x25519::Identity::generate();
        let key = parse_recipients(&[id.to_public().to_string()]).unwrap();
        assert_eq!(key.describe().0, vec![id.to_public().to_string()]);
    }
}
