fn main() -> anyhow::Result<()> {
    let out = std::env::args_os()
        .nth(1)
        .map_or_else(|| "man".into(), std::path::PathBuf::from);
    pgb_man::write_all(&out)
}
