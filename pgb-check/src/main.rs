fn main() -> std::process::ExitCode {
    pgb_check::main_entry(std::env::args_os())
}
