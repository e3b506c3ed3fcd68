fn main() -> std::process::ExitCode {
    pgb_prune::main_entry(std::env::args_os())
}
