//! sea-pack (placeholder until the packer lands).
fn main() {
    eprintln!("sea-pack: not built yet");
    std::process::exit(2);
}
