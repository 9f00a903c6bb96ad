fn main() -> std::process::ExitCode {
    gruwave::cli::main()
}
