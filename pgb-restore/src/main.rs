fn main() -> std::process::ExitCode {
    pgb_restore::main_entry(std::env::args_os())
}
