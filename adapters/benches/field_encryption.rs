//! Measures sealing and opening one field, and the blind index, to size what an admin prefix
//! search costs: such a search opens the email of every account it scans.
//!
//! Run: `cargo bench -p somnium-adapters --bench field_encryption`. It prints nanoseconds per
//! operation; figures vary with the machine and its load.

use std::hint::black_box;
use std::time::Instant;

use somnium_adapters::crypto::{AesGcmFieldEncryption, BlindIndexKey, KeyRing};
use somnium_domain::ports::{FieldBinding, FieldEncryption};

const OPERATIONS: usize = 200_000;

fn per_operation(label: &str, mut operation: impl FnMut(usize)) {
    let started = Instant::now();
    for index in 0..OPERATIONS {
        operation(index);
    }
    let nanos = started.elapsed().as_nanos() / OPERATIONS as u128;
    println!("{label:<28} {nanos:>6} ns");
}

fn main() {
    let blind = BlindIndexKey::parse(&BlindIndexKey::generate_text()).expect("a fresh key parses");
    let encryption = AesGcmFieldEncryption::new(KeyRing::generate("bench"), None, blind);
    let row = "0b5f7a52-3d1c-4e1f-9a51-5c0e3d2a9f10";
    let binding = FieldBinding {
        field: "users.email",
        row,
    };
    let email = "charge.nurse.ecmo-unit@hospital.example.org";
    let sealed = encryption.seal(binding, email).expect("seals");

    per_operation("seal email", |_| {
        black_box(encryption.seal(binding, black_box(email)).expect("seals"));
    });
    per_operation("open email", |_| {
        black_box(encryption.open(binding, black_box(&sealed)).expect("opens"));
    });
    per_operation("blind index", |_| {
        black_box(encryption.blind_index(black_box(email)));
    });
}
