//! Connection options and the one rule about passwords: they never appear in
//! a process's argv, a log line or JSON. A `-d` argument may be a plain name,
//! a `postgresql://` URI or a `key=value` conninfo string, and the last two
//! may carry a password; it is taken out and handed to libpq through the
//! `PGPASSWORD` environment variable of the child instead. Everything else
//! (PGHOST, PGPASSFILE, .pgpass, PGSERVICE, sslmode) is libpq's own business.

use std::ffi::OsString;

/// Host, port and user given on pgb's command line (else libpq's defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnOptions {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub username: Option<String>,
}

impl ConnOptions {
    /// The `-h/-p/-U` arguments common to pg_dump, pg_dumpall, psql and pg_restore.
    pub fn args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        if let Some(host) = &self.host {
            args.push(format!("--host={host}").into());
        }
        if let Some(port) = self.port {
            args.push(format!("--port={port}").into());
        }
        if let Some(user) = &self.username {
            args.push(format!("--username={user}").into());
        }
        args
    }
}

/// A database as named on the command line, with any password split off.
#[derive(Clone, PartialEq, Eq)]
pub struct DbTarget {
    /// What is passed as `--dbname=` (a name, URI or conninfo; no password).
    pub dbname: String,
    /// The password that was embedded in the argument, if any.
    password: Option<String>,
}

impl std::fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbTarget")
            .field("dbname", &self.dbname)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl DbTarget {
    pub fn parse(arg: &str) -> DbTarget {
        if is_uri(arg) {
            let (dbname, password) = strip_uri_password(arg);
            DbTarget { dbname, password }
        } else if arg.contains('=') {
            let (dbname, password) = strip_conninfo_password(arg);
            DbTarget { dbname, password }
        } else {
            DbTarget {
                dbname: arg.to_string(),
                password: None,
            }
        }
    }

    /// A database known by name only (e.g. from `--all`). pg_dump would read
    /// a name containing `=` or starting like a URI as a connection string,
    /// so such names are wrapped as `dbname='...'`.
    pub fn named(name: &str) -> DbTarget {
        let dbname = if name.contains('=') || is_uri(name) {
            format!(
                "dbname='{}'",
                name.replace('\\', "\\\\").replace('\'', "\\'")
            )
        } else {
            name.to_string()
        };
        DbTarget {
            dbname,
            password: None,
        }
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// True when the argument is a plain database name, not a URI or conninfo.
    pub fn is_plain_name(&self) -> bool {
        !is_uri(&self.dbname) && !self.dbname.contains('=')
    }
}

fn is_uri(s: &str) -> bool {
    s.starts_with("postgresql://") || s.starts_with("postgres://")
}

/// Removes `:password` from the userinfo and `password=` from the query.
fn strip_uri_password(uri: &str) -> (String, Option<String>) {
    let scheme_end = uri.find("://").map(|i| i + 3).unwrap_or(0);
    let (scheme, rest) = uri.split_at(scheme_end);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut password = None;
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, hosts) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, pw)) => {
                    password = Some(percent_decode(pw));
                    format!("{user}{hosts}")
                }
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|pair| {
                    let is_password = pair.split('=').next() == Some("password");
                    if is_password {
                        let value = pair.split_once('=').map(|x| x.1).unwrap_or("");
                        password = Some(percent_decode(value));
                    }
                    !is_password
                })
                .collect();
            if kept.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_string(),
    };
    (format!("{scheme}{authority}{tail}"), password)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a libpq `key=value` string into pairs, honouring single quotes and
/// backslash escapes, and rebuilds it without the password.
fn strip_conninfo_password(conninfo: &str) -> (String, Option<String>) {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut chars = conninfo.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() == Some(&'=') {
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
    let mut password = None;
    let kept: Vec<String> = pairs
        .into_iter()
        .filter_map(|(k, v)| {
            if k == "password" {
                password = Some(v);
                None
            } else {
                Some(format!(
                    "{k}='{}'",
                    v.replace('\\', "\\\\").replace('\'', "\\'")
                ))
            }
        })
        .collect();
    (kept.join(" "), password)
}

/// Any string that might hold a URI or conninfo, with passwords masked, for
/// messages and logs.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let uri_start = word
            .find("postgresql://")
            .or_else(|| word.find("postgres://"));
        if let Some(start) = uri_start {
            let (prefix, uri) = word.split_at(start);
            match strip_uri_password(uri) {
                (stripped, Some(_)) => out.push_str(&format!("{prefix}{}", mask_uri(&stripped))),
                (_, None) => out.push_str(word),
            }
        } else if word.starts_with("password=") {
            out.push_str("password=***");
        } else {
            out.push_str(word);
        }
    }
    out
}

fn mask_uri(uri_without_password: &str) -> String {
    match uri_without_password.find("://") {
        Some(i) => {
            let (scheme, rest) = uri_without_password.split_at(i + 3);
            match rest.find('@') {
                Some(at) if !rest[..at].contains('/') => {
                    format!("{scheme}{}:***{}", &rest[..at], &rest[at..])
                }
                _ => uri_without_password.to_string(),
            }
        }
        None => uri_without_password.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_password_moves_out_of_the_argument() {
        let t = DbTarget::parse("postgresql://app:s%40cret@db.local:5433/shop?sslmode=require");
        assert_eq!(
            t.dbname,
            "postgresql://app@db.local:5433/shop?sslmode=require"
        );
        assert_eq!(t.password(), Some("s@cret"));
        let t = DbTarget::parse("postgres://h/db?password=x&connect_timeout=3");
        assert_eq!(t.dbname, "postgres://h/db?connect_timeout=3");
        assert_eq!(t.password(), Some("x"));
        let t = DbTarget::parse("postgres:///db?password=only");
        assert_eq!(t.dbname, "postgres:///db");
    }

    #[test]
    fn conninfo_password_moves_out_of_the_argument() {
        let t = DbTarget::parse("host=/tmp dbname='my db' password='it\\'s' user=a");
        assert!(!t.dbname.contains("password"), "{}", t.dbname);
        assert!(t.dbname.contains("dbname='my db'"));
        let t = DbTarget::parse("dbname=x password=p\\ q");
        assert_eq!(t.password(), Some("p q"));
        assert_eq!(t.dbname, "dbname='x'");
        assert!(!format!("{t:?}").contains("p q"));
    }

    #[test]
    fn names_that_look_like_conninfo_are_wrapped() {
        assert_eq!(DbTarget::named("a=b").dbname, "dbname='a=b'");
        assert_eq!(DbTarget::named("it's=x").dbname, "dbname='it\\'s=x'");
        assert_eq!(DbTarget::named("shop").dbname, "shop");
    }

    #[test]
    fn plain_names_stay_as_they_are() {
        let t = DbTarget::parse("Shop Ünicode");
        assert_eq!(t.dbname, "Shop Ünicode");
        assert!(t.is_plain_name());
        assert_eq!(t.password(), None);
    }

    #[test]
    fn redaction_masks_passwords_in_free_text() {
        let r = redact("connecting to postgresql://app:hunter2@h/db and password=hunter2");
        assert!(!r.contains("hunter2"), "{r}");
        assert!(r.contains("postgresql://app:***@h/db"), "{r}");
    }
}
