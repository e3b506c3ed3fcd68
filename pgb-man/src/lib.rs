//! Renders the man pages in `man/` from the tools' clap definitions, so the
//! options documented are exactly the options parsed. Each tool adds its own
//! sections (OUTPUT, EXIT STATUS, EXAMPLES...) from its `cli::MAN_SECTIONS`;
//! pgb(7), the protocol page, comes from `protocol.rs`. A test fails when the
//! committed pages differ from what this renders: run
//! `cargo run -p pgb-man` to refresh them.

mod protocol;

use std::path::Path;

use anyhow::Context;
use roff::{roman, Roff};

/// One page: file name and rendered roff.
pub fn pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let tools: [(clap::Command, &[(&str, &str)]); 2] = [
        (
            <pgb_dump::cli::Cli as clap::CommandFactory>::command(),
            pgb_dump::cli::MAN_SECTIONS,
        ),
        (
            <pgb_verify::cli::Cli as clap::CommandFactory>::command(),
            pgb_verify::cli::MAN_SECTIONS,
        ),
    ];
    let mut pages = Vec::new();
    for (command, sections) in tools {
        let name = command.get_name().to_string();
        pages.push((format!("{name}.1"), render_tool(command, sections)?));
    }
    pages.push(("pgb.7".to_string(), protocol::render().into_bytes()));
    Ok(pages)
}

fn render_tool(command: clap::Command, sections: &[(&str, &str)]) -> anyhow::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(command)
        .source(format!("pgb {}", env!("CARGO_PKG_VERSION")))
        .manual("pgb manual");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    let mut extra = Roff::new();
    for (title, text) in sections {
        section(&mut extra, title, text);
    }
    section(
        &mut extra,
        "SEE ALSO",
        "pgb(7), pgb-dump(1), pgb-verify(1), pgb-prune(1), pgb-check(1), pgb-restore(1), pgb-ship(1), pg_dump(1), psql(1), pg_restore(1)",
    );
    extra.to_writer(&mut out)?;
    Ok(out)
}

/// A section whose paragraphs are separated by blank lines.
pub(crate) fn section(roff: &mut Roff, title: &str, text: &str) {
    roff.control("SH", [title]);
    for (i, paragraph) in text.split("\n\n").enumerate() {
        if i > 0 {
            roff.control("PP", [] as [&str; 0]);
        }
        roff.text([roman(paragraph)]);
    }
}

/// Writes every page into `dir`.
pub fn write_all(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, bytes) in pages()? {
        let path = dir.join(&name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_man_pages_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../man");
        for (name, bytes) in super::pages().unwrap() {
            let committed = std::fs::read(dir.join(&name)).unwrap_or_default();
            assert!(
                committed == bytes,
                "man/{name} is stale: run `cargo run -p pgb-man` and commit the result"
            );
        }
    }

    #[test]
    fn every_tool_page_documents_exit_status_and_every_option() {
        for (name, bytes) in super::pages().unwrap() {
            let text = String::from_utf8(bytes).unwrap();
            if name.ends_with(".1") {
                assert!(text.contains(".SH \"EXIT STATUS\""), "{name}");
                assert!(text.contains("\\-\\-quiet"), "{name}");
            }
        }
    }
}
