fn main() -> std::process::ExitCode {
    pgb_ship::main_entry(std::env::args_os())
}
