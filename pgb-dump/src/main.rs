fn main() -> std::process::ExitCode {
    pgb_dump::main_entry(std::env::args_os())
}
