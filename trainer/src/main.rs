fn main() {
    let r = trainer::bench::run(1000, 1, false);
    for b in r {
        println!(
            "{:>10} {:.3} {:.3} s/1000",
            b.algorithm.name(),
            b.secs_per_1000,
            b.best_secs_per_1000
        );
    }
}
