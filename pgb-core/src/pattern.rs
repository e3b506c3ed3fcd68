//! pg_dump's table and schema selection patterns (`-t`, `-T`, `-n`, `-N`,
//! `--exclude-table-data`), so the manifest lists exactly the tables whose
//! rows the dump holds. Restore checks compare against that list; a table
//! listed but not dumped would make a good backup look broken.
//!
//! The rules are psql's: unquoted text is folded to lower case, `*` matches
//! any run of characters, `?` one character, a dot separates schema from
//! name, and double quotes keep text literal (`""` is a quote). A pattern
//! without a schema part matches tables in every schema, as in pg_dump.

use glob::{MatchOptions, Pattern};

use crate::record::{DumpOptions, TableRecord};

/// A compiled `[schema.]name` pattern.
#[derive(Debug, Clone)]
pub struct NamePattern {
    schema: Option<Pattern>,
    name: Pattern,
}

const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

impl NamePattern {
    /// Parses a psql pattern; an invalid one matches nothing rather than
    /// failing the dump, since pg_dump itself is the judge of validity.
    pub fn parse(pattern: &str) -> NamePattern {
        let mut parts: Vec<String> = vec![String::new()];
        let mut in_quotes = false;
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let current = parts.last_mut();
            let Some(current) = current else { break };
            match c {
                '"' if in_quotes && chars.peek() == Some(&'"') => {
                    chars.next();
                    current.push('"');
                }
                '"' => in_quotes = !in_quotes,
                '.' if !in_quotes => parts.push(String::new()),
                '*' if !in_quotes => current.push('*'),
                '?' if !in_quotes => current.push('?'),
                c if in_quotes => current.push_str(&Pattern::escape(&c.to_string())),
                c => current.push_str(&Pattern::escape(&c.to_lowercase().to_string())),
            }
        }
        let compile = |text: &str| Pattern::new(text).unwrap_or_else(|_| never_matches());
        let name = parts.pop().unwrap_or_default();
        // `db.schema.name` keeps the last two parts; the database is the one dumped.
        let schema = parts.pop();
        NamePattern {
            schema: schema.as_deref().map(compile),
            name: compile(&name),
        }
    }

    pub fn matches_table(&self, schema: &str, name: &str) -> bool {
        self.schema
            .as_ref()
            .is_none_or(|s| s.matches_with(schema, OPTIONS))
            && self.name.matches_with(name, OPTIONS)
    }

    /// For `-n`/`-N`, where the whole pattern names a schema.
    pub fn matches_schema(&self, schema: &str) -> bool {
        self.schema.is_none() && self.name.matches_with(schema, OPTIONS)
    }
}

fn never_matches() -> Pattern {
    // The empty pattern matches only the empty string, never an identifier.
    Pattern::default()
}

/// Applies pg_dump's selection rules to the list of tables in the database:
/// keeps only those the dump contains and marks those whose rows it leaves out.
pub fn select_tables(tables: Vec<TableRecord>, options: &DumpOptions) -> Vec<TableRecord> {
    let compile = |v: &[String]| v.iter().map(|p| NamePattern::parse(p)).collect::<Vec<_>>();
    let include_tables = compile(&options.tables);
    let exclude_tables = compile(&options.exclude_tables);
    let include_schemas = compile(&options.schemas);
    let exclude_schemas = compile(&options.exclude_schemas);
    let exclude_data = compile(&options.exclude_table_data);
    tables
        .into_iter()
        .filter(|t| {
            let table = |p: &NamePattern| p.matches_table(&t.schema, &t.name);
            let schema = |p: &NamePattern| p.matches_schema(&t.schema);
            let included = if include_tables.is_empty() {
                (include_schemas.is_empty() || include_schemas.iter().any(schema))
                    && !exclude_schemas.iter().any(schema)
            } else {
                // pg_dump: tables chosen with -t are dumped whatever -n/-N say.
                include_tables.iter().any(table)
            };
            included && !exclude_tables.iter().any(table)
        })
        .map(|mut t| {
            if options.schema_only
                || exclude_data
                    .iter()
                    .any(|p| p.matches_table(&t.schema, &t.name))
            {
                t.data = false;
                t.rows = None;
            }
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(schema: &str, name: &str) -> TableRecord {
        TableRecord {
            schema: schema.into(),
            name: name.into(),
            estimated_rows: 0,
            rows: None,
            data: true,
        }
    }

    #[test]
    fn psql_pattern_rules() {
        assert!(NamePattern::parse("Orders").matches_table("public", "orders"));
        assert!(!NamePattern::parse("\"Orders\"").matches_table("public", "orders"));
        assert!(NamePattern::parse("\"Orders\"").matches_table("x", "Orders"));
        assert!(NamePattern::parse("sales.ord*").matches_table("sales", "orders_2024"));
        assert!(!NamePattern::parse("sales.ord*").matches_table("public", "orders"));
        assert!(NamePattern::parse("\"my.schema\".t?").matches_table("my.schema", "t1"));
        assert!(NamePattern::parse("\"a\"\"b\"").matches_table("s", "a\"b"));
        assert!(NamePattern::parse("[x]").matches_table("s", "[x]"));
        assert!(NamePattern::parse("aud*").matches_schema("audit"));
    }

    #[test]
    fn selection_follows_pg_dump() {
        let all = vec![
            table("public", "a"),
            table("public", "b"),
            table("audit", "log"),
        ];
        let opts = DumpOptions {
            schemas: vec!["public".into()],
            exclude_tables: vec!["b".into()],
            exclude_table_data: vec!["public.a".into()],
            ..Default::default()
        };
        let picked = select_tables(all.clone(), &opts);
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].name, "a");
        assert!(!picked[0].data);

        let opts = DumpOptions {
            tables: vec!["audit.*".into()],
            exclude_schemas: vec!["audit".into()],
            ..Default::default()
        };
        let picked = select_tables(all, &opts);
        assert_eq!(picked.len(), 1, "-t wins over -N as in pg_dump");
        assert_eq!(picked[0].name, "log");
    }
}
