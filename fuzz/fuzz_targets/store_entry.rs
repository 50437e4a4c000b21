//! Fuzz target `store_entry`; the logic is in `pyro_fuzz::store_entry::run`. Without `--cfg fuzzing` this
//! binary replays the files given as arguments.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pyro_fuzz::store_entry::run(data));

#[cfg(not(fuzzing))]
fn main() {
    pyro_fuzz::replay_args(pyro_fuzz::store_entry::run);
}
