//! An S3 bucket (AWS or any S3-compatible service) as a store, through the
//! rust-s3 client in blocking mode. Large files go up as multipart uploads
//! read part by part (memory bounded by one part), each part's MD5 kept so
//! the stored object's ETag can be checked against what was sent; a failed
//! upload is aborted. The file's SHA-256 is stored as object metadata, which
//! is what makes shipping idempotent and conflicts detectable.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use md5::{Digest as _, Md5};
use s3::creds::Credentials;
use s3::{Bucket, Region};

use super::{RemoteObject, Store, StoreOptions};
use crate::exit::IoContext;
use crate::stream::to_hex;
use crate::{Error, Result};

/// Size of each multipart part: memory use of an upload is about this much.
const PART_SIZE: usize = 8 * 1024 * 1024;
const SHA_META: &str = "pgb-sha256";

#[derive(Debug)]
pub struct S3Store {
    bucket: Box<Bucket>,
    name: String,
    prefix: String,
    storage_class: Option<String>,
    sse: Option<String>,
}

fn s3_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Failed(format!("S3 {what}: {e}"))
}

impl S3Store {
    /// `bucket/prefix` (the part after `s3://`).
    pub fn open(rest: &str, options: &StoreOptions) -> Result<S3Store> {
        let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if name.is_empty() {
            return Err(Error::Usage("s3:// URL without a bucket name".into()));
        }
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let region_name = options
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_string());
        let endpoint = options.endpoint.clone().or_else(|| env("AWS_ENDPOINT_URL"));
        let region = match &endpoint {
            Some(endpoint) => Region::Custom {
                region: region_name,
                endpoint: endpoint.trim_end_matches('/').to_string(),
            },
            None => region_name
                .parse()
                .map_err(|e| Error::Usage(format!("S3 region {region_name:?}: {e}")))?,
        };
        // The environment, then the profile files. Instance metadata is not
        // asked: a backup tool should not probe the network for credentials.
        let profile = env("AWS_PROFILE");
        let credentials = Credentials::from_env()
            .or_else(|_| Credentials::from_profile(profile.as_deref()))
            .map_err(|e| {
                Error::Setup(format!(
                    "S3 credentials not found ({e}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                     or AWS_PROFILE with ~/.aws/credentials"
                ))
            })?;
        let mut bucket =
            Bucket::new(name, region, credentials).map_err(|e| s3_error("bucket", e))?;
        if options.path_style || endpoint.is_some() {
            bucket = bucket.with_path_style();
        }
        // Transient failures (connection resets, 5xx) are retried with
        // backoff by the client.
        s3::set_retries(3);
        Ok(S3Store {
            bucket,
            name: name.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            storage_class: options.storage_class.clone(),
            sse: options.sse.clone(),
        })
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    fn headers(&self, sha256: &str) -> Result<http::HeaderMap> {
        let mut headers = http::HeaderMap::new();
        let mut add = |k: &str, v: &str| -> Result<()> {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| Error::Usage(format!("header {k}: {e}")))?;
            let value = http::HeaderValue::from_str(v)
                .map_err(|e| Error::Usage(format!("header {k}: {e}")))?;
            headers.insert(name, value);
            Ok(())
        };
        add(&format!("x-amz-meta-{SHA_META}"), sha256)?;
        if let Some(class) = &self.storage_class {
            add("x-amz-storage-class", class)?;
        }
        if let Some(sse) = &self.sse {
            add("x-amz-server-side-encryption", sse)?;
        }
        Ok(headers)
    }

    fn upload_multipart(
        &self,
        key: &str,
        mut file: File,
        local: &Path,
        sha256: &str,
    ) -> Result<String> {
        let initiating = self
            .bucket
            .with_extra_headers(self.headers(sha256)?)
            .map_err(|e| s3_error("headers", e))?;
        let upload = initiating
            .initiate_multipart_upload(key, "application/octet-stream")
            .map_err(|e| s3_error(&format!("starting the upload of {key}"), e))?;
        let mut parts = Vec::new();
        let mut digests = Vec::new();
        let mut whole = sha2::Sha256::new();
        let mut buf = vec![0u8; PART_SIZE];
        let outcome = (|| -> Result<()> {
            loop {
                let n = read_full(&mut file, &mut buf).at(local)?;
                if n == 0 {
                    return Ok(());
                }
                digests.extend_from_slice(&Md5::digest(&buf[..n]));
                sha2::Digest::update(&mut whole, &buf[..n]);
                let number = u32::try_from(parts.len() + 1).unwrap_or(u32::MAX);
                let part = self
                    .bucket
                    .put_multipart_chunk(
                        &buf[..n],
                        key,
                        number,
                        &upload.upload_id,
                        "application/octet-stream",
                    )
                    .map_err(|e| s3_error(&format!("uploading part {number} of {key}"), e))?;
                parts.push(part);
            }
        })();
        let count = parts.len();
        let read_sha = to_hex(&sha2::Digest::finalize(whole));
        let outcome = outcome.and_then(|_| {
            if read_sha == sha256 {
                Ok(())
            } else {
                Err(Error::Integrity {
                    path: local.to_path_buf(),
                    message: format!("read sha256 {read_sha}, the manifest says {sha256}: not uploading a damaged file"),
                })
            }
        });
        let completed = outcome.and_then(|_| {
            match self
                .bucket
                .complete_multipart_upload(key, &upload.upload_id, parts)
            {
                Ok(r) => check_status(r.status_code(), &format!("completing the upload of {key}")),
                // rust-s3 reports some 2xx answers of this call as errors; the
                // HEAD below checks what was really stored.
                Err(s3::error::S3Error::HttpFailWithBody(code, _))
                    if (200..300).contains(&code) =>
                {
                    Ok(())
                }
                Err(e) => Err(s3_error(&format!("completing the upload of {key}"), e)),
            }
        });
        if let Err(e) = completed {
            // Leave no half-assembled upload behind (best effort: the server
            // may be the thing that failed).
            let _ = self.bucket.abort_upload(key, &upload.upload_id);
            return Err(e);
        }
        Ok(format!("{}-{count}", to_hex(&Md5::digest(&digests))))
    }
}

fn check_status(code: u16, what: &str) -> Result<()> {
    if (200..300).contains(&code) {
        Ok(())
    } else {
        Err(Error::Failed(format!("S3 {what}: HTTP {code}")))
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

impl Store for S3Store {
    fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.name)
        } else {
            format!("s3://{}/{}", self.name, self.prefix)
        }
    }

    fn stat(&self, name: &str) -> Result<Option<RemoteObject>> {
        let key = self.key(name);
        match self.bucket.head_object(&key) {
            Ok((_, 404)) | Err(s3::error::S3Error::HttpFailWithBody(404, _)) => Ok(None),
            Ok((head, code)) => {
                check_status(code, &format!("HEAD {key}"))?;
                Ok(Some(RemoteObject {
                    bytes: head
                        .content_length
                        .and_then(|l| u64::try_from(l).ok())
                        .unwrap_or(0),
                    sha256: head
                        .metadata
                        .as_ref()
                        .and_then(|m| m.get(SHA_META).cloned()),
                }))
            }
            Err(e) => Err(s3_error(&format!("HEAD {key}"), e)),
        }
    }

    fn put(&self, name: &str, local: &Path, bytes: u64, sha256: &str) -> Result<RemoteObject> {
        let key = self.key(name);
        if self.stat(name)?.is_some() {
            return Err(Error::Exists { path: key.into() });
        }
        let mut file = File::open(local).at(local)?;
        let expected_etag = if bytes as usize > PART_SIZE {
            self.upload_multipart(&key, file, local, sha256)?
        } else {
            let mut content = Vec::with_capacity(bytes as usize);
            file.read_to_end(&mut content).at(local)?;
            let read_sha = to_hex(&<sha2::Sha256 as sha2::Digest>::digest(&content));
            if read_sha != sha256 {
                return Err(Error::Integrity {
                    path: local.to_path_buf(),
                    message: format!("read sha256 {read_sha}, the manifest says {sha256}: not uploading a damaged file"),
                });
            }
            let response = self
                .bucket
                .put_object_with_headers(&key, &content, Some(self.headers(sha256)?))
                .map_err(|e| s3_error(&format!("PUT {key}"), e))?;
            check_status(response.status_code(), &format!("PUT {key}"))?;
            to_hex(&Md5::digest(&content))
        };
        // Confirm what the server stored: size, the digest pgb recorded, and
        // the ETag computed from the parts' MD5s.
        let (head, code) = self
            .bucket
            .head_object(&key)
            .map_err(|e| s3_error(&format!("HEAD {key}"), e))?;
        check_status(code, &format!("HEAD {key}"))?;
        let stored_bytes = head
            .content_length
            .and_then(|l| u64::try_from(l).ok())
            .unwrap_or(0);
        let etag = head.e_tag.unwrap_or_default().trim_matches('"').to_string();
        let stored_sha = head
            .metadata
            .as_ref()
            .and_then(|m| m.get(SHA_META).cloned());
        if stored_bytes != bytes || etag != expected_etag || stored_sha.as_deref() != Some(sha256) {
            return Err(Error::Integrity {
                path: key.into(),
                message: format!(
                    "stored object has {stored_bytes} bytes, ETag {etag}, sha256 {stored_sha:?}; \
                     sent {bytes} bytes, ETag {expected_etag}, sha256 {sha256}"
                ),
            });
        }
        Ok(RemoteObject {
            bytes: stored_bytes,
            sha256: stored_sha,
        })
    }

    fn list(&self) -> Result<Vec<String>> {
        let prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let pages = self
            .bucket
            .list(prefix.clone(), Some("/".to_string()))
            .map_err(|e| s3_error(&format!("listing {}", self.url()), e))?;
        let mut names: Vec<String> = pages
            .into_iter()
            .flat_map(|p| p.contents)
            .filter_map(|o| o.key.strip_prefix(&prefix).map(str::to_string))
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .collect();
        names.sort();
        Ok(names)
    }

    fn get(&self, name: &str, out: &mut (dyn Write + Send)) -> Result<u64> {
        let key = self.key(name);
        let mut counting = CountingWriter {
            inner: out,
            bytes: 0,
        };
        let code = self
            .bucket
            .get_object_to_writer(&key, &mut counting)
            .map_err(|e| s3_error(&format!("GET {key}"), e))?;
        check_status(code, &format!("GET {key}"))?;
        Ok(counting.bytes)
    }

    fn delete(&self, name: &str) -> Result<()> {
        let key = self.key(name);
        let response = self
            .bucket
            .delete_object(&key)
            .map_err(|e| s3_error(&format!("DELETE {key}"), e))?;
        match response.status_code() {
            404 => Ok(()),
            code => check_status(code, &format!("DELETE {key}")),
        }
    }
}

struct CountingWriter<'a> {
    inner: &'a mut (dyn Write + Send),
    bytes: u64,
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
