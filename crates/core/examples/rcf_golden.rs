use wasmad_core::rcf::{Rcf, RcfParams};
fn main() {
    let mut h: u64 = 0xcbf29ce484222325;
    for (width, shingle, attr) in [(1usize, 1usize, false), (3, 4, true), (2, 2, false)] {
        let p = RcfParams {
            number_of_trees: 20,
            sub_sample_size: 64,
            time_decay: 500,
            shingle_size: shingle,
            seed: 3,
            min_training_size: 64,
        };
        let mut f = Rcf::new(&p, width).unwrap();
        let mut out = vec![0.0; 2 * width];
        let mut row = vec![0.0; width];
        for i in 0..20000u64 {
            for (c, v) in row.iter_mut().enumerate() {
                *v = libm::sin(i as f64 * 0.1 * (c + 1) as f64)
                    + ((i * 7919 + c as u64) % 13) as f64 * 0.01
                    + if i % 997 == 0 { 3.0 } else { 0.0 };
            }
            let s = if attr {
                f.update_with_attribution(&row, &p, &mut out)
            } else {
                f.update(&row, &p)
            };
            for b in std::iter::once(s.score).chain(out.iter().copied()) {
                h = (h ^ b.to_bits()).wrapping_mul(0x100000001b3);
            }
        }
        let snap = postcard::to_allocvec(&f).unwrap();
        println!("len {}", snap.len());
    }
    println!("{h:016x}");
}
