fn main() -> std::process::ExitCode {
    pgb_verify::main_entry(std::env::args_os())
}
