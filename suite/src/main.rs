fn main() {
    hil_suite::cli::main()
}
