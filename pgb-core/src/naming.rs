//! Backup file names. The default `{db}_{YYYYMMDD}T{HHMMSS}Z` sorts by time in
//! UTC; a template reproduces the schemes of existing runbooks (e.g.
//! `{db}_backup_{YYYYMMDD}_{HHMMSS}` gives `fitcoach_backup_20251118_143022`).
//! Names are only labels: ordering and ages always come from manifests.

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::record::{Compression, DumpFormat};
use crate::{Error, Result};

pub const DEFAULT_TEMPLATE: &str = "{db}_{YYYYMMDD}T{HHMMSS}Z";

const PLACEHOLDERS: &[&str] = &[
    "db", "kind", "label", "YYYYMMDD", "HHMMSS", "YYYY", "MM", "DD", "hh", "mm", "ss",
];

/// A validated name template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTemplate {
    template: String,
}

/// What a name is made of.
#[derive(Debug, Clone)]
pub struct NameParts<'a> {
    pub database: &'a str,
    pub kind: &'a str,
    pub label: Option<&'a str>,
    pub time: DateTime<Utc>,
}

impl NameTemplate {
    /// Checks every placeholder is known and the literal text is a safe file
    /// name fragment (no `/`, no NUL, not starting with a dot).
    pub fn parse(template: &str) -> Result<NameTemplate> {
        if template.is_empty() {
            return Err(Error::Usage("--name: the template is empty".into()));
        }
        if template.starts_with('.') {
            return Err(Error::Usage(format!(
                "--name {template:?}: a name may not start with '.' (hidden files are pgb's partial and lock files)"
            )));
        }
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let literal = &rest[..open];
            check_literal(template, literal)?;
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| Error::Usage(format!("--name {template:?}: unclosed '{{'")))?;
            let key = &after[..close];
            if !PLACEHOLDERS.contains(&key) {
                return Err(Error::Usage(format!(
                    "--name {template:?}: unknown placeholder {{{key}}}; known: {}",
                    PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )));
            }
            rest = &after[close + 1..];
        }
        check_literal(template, rest)?;
        Ok(NameTemplate {
            template: template.to_string(),
        })
    }

    /// The base name (without extension) for one backup.
    pub fn render(&self, parts: &NameParts<'_>) -> String {
        let t = parts.time;
        let mut out = String::new();
        let mut rest = self.template.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            // parse() proved every '{' has a matching '}'.
            let close = after.find('}').unwrap_or(after.len());
            let value = match &after[..close] {
                "db" => safe_fragment(parts.database),
                "kind" => parts.kind.to_string(),
                "label" => safe_fragment(parts.label.unwrap_or("")),
                "YYYYMMDD" => format!("{:04}{:02}{:02}", t.year(), t.month(), t.day()),
                "HHMMSS" => format!("{:02}{:02}{:02}", t.hour(), t.minute(), t.second()),
                "YYYY" => format!("{:04}", t.year()),
                "MM" => format!("{:02}", t.month()),
                "DD" => format!("{:02}", t.day()),
                "hh" => format!("{:02}", t.hour()),
                "mm" => format!("{:02}", t.minute()),
                "ss" => format!("{:02}", t.second()),
                _ => String::new(),
            };
            out.push_str(&value);
            rest = after.get(close + 1..).unwrap_or("");
        }
        out.push_str(rest);
        out
    }
}

fn check_literal(template: &str, literal: &str) -> Result<()> {
    if literal.contains('/') || literal.contains('\0') || literal.contains('}') {
        return Err(Error::Usage(format!(
            "--name {template:?}: the template may not contain '/', '}}' or NUL outside placeholders"
        )));
    }
    Ok(())
}

/// Database names may hold any character; file names get a conservative
/// version: letters and digits of any script, `-`, `_` and `.`; everything
/// else (slashes, spaces, quotes, control characters) becomes `_`.
pub fn safe_fragment(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// The extension of the data file, so `gunzip`, `zstd -d` and `pg_restore`
/// recognise it.
pub fn extension(format: DumpFormat, compression: Compression) -> &'static str {
    match (format, compression) {
        (DumpFormat::Custom, _) => "dump",
        (DumpFormat::Plain, Compression::Gzip) => "sql.gz",
        (DumpFormat::Plain, Compression::Zstd) => "sql.zst",
        (DumpFormat::Plain, Compression::None | Compression::PgDump) => "sql",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn parts(db: &str) -> NameParts<'_> {
        NameParts {
            database: db,
            kind: "database",
            label: Some("pre deploy"),
            time: Utc.with_ymd_and_hms(2025, 11, 18, 14, 30, 22).unwrap(),
        }
    }

    #[test]
    fn default_template_is_sortable_utc() {
        let t = NameTemplate::parse(DEFAULT_TEMPLATE).unwrap();
        assert_eq!(t.render(&parts("shop")), "shop_20251118T143022Z");
    }

    #[test]
    fn runbook_scheme_is_reproducible() {
        let t = NameTemplate::parse("{db}_backup_{YYYYMMDD}_{HHMMSS}").unwrap();
        assert_eq!(
            t.render(&parts("fitcoach")),
            "fitcoach_backup_20251118_143022"
        );
        let t = NameTemplate::parse("{YYYY}/{db}").err().unwrap();
        assert!(t.to_string().contains("'/'"));
    }

    #[test]
    fn bad_templates_are_usage_errors() {
        for bad in ["", ".hidden_{db}", "{db", "{nope}_{db}", "a}b"] {
            let err = NameTemplate::parse(bad).unwrap_err();
            assert_eq!(err.exit_status(), crate::ExitStatus::Usage, "{bad}");
        }
    }

    #[test]
    fn database_names_become_safe_fragments() {
        let t = NameTemplate::parse("{db}-{label}").unwrap();
        assert_eq!(
            t.render(&parts("../etc/pass wd")),
            "_._etc_pass_wd-pre_deploy"
        );
        assert_eq!(safe_fragment("Ünïcødé"), "Ünïcødé");
        assert_eq!(safe_fragment(".x"), "_x");
    }
}
