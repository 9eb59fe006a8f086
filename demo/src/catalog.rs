//! The storefront's product catalogue as the demo services see it.
//!
//! The services are meant to sit next to the SQL storefront (`migrations/*/0002_seed.sql`), so
//! their keys must match it exactly: product ids `1..=60` for reviews and the 60 skus for
//! inventory. The skus are copied here rather than read from the database so the services stay
//! self-contained (no sqlx, no file access) and can run anywhere.

/// Number of products in the SQL seed; valid product ids are `1..=PRODUCT_COUNT`.
pub const PRODUCT_COUNT: i64 = 60;

/// The skus of products `1..=60`, in id order (`SKUS[id - 1]`), copied from `0002_seed.sql`.
pub const SKUS: [&str; 60] = [
    "CB-ETH-YRG-250",
    "CB-KEN-NYR-250",
    "CB-COL-HUI-250",
    "CB-GUA-ANT-250",
    "CB-BRA-CER-1KG",
    "CB-SUM-MAN-250",
    "CB-HOU-ESP-500",
    "CB-DEC-SWP-250",
    "CB-PAN-GES-100",
    "CB-RWA-HUY-250",
    "TE-SEN-JPN-100",
    "TE-ASM-BRK-250",
    "TE-EGR-CLS-100",
    "TE-DRJ-FF-100",
    "TE-OOL-TGY-100",
    "TE-MAT-CER-30",
    "TE-CHA-MAS-200",
    "TE-ROO-RED-200",
    "BE-V60-CER-02",
    "BE-CHX-6CUP",
    "BE-FRP-1L",
    "BE-AER-ORIG",
    "BE-MOK-6CUP",
    "BE-KET-GOO-1L",
    "BE-KET-ELC-09",
    "BE-CLD-BRW-1L",
    "BE-SIP-5CUP",
    "GR-HND-CON-01",
    "GR-HND-TRV-02",
    "GR-ELC-FLT-64",
    "GR-ELC-CON-40",
    "GR-BLD-BAS-01",
    "DW-MUG-STN-350",
    "DW-MUG-ENM-300",
    "DW-CUP-ESP-2PK",
    "DW-CUP-CAP-180",
    "DW-TUM-INS-470",
    "DW-GLS-LAT-4PK",
    "DW-TEA-POT-800",
    "DW-CUP-KEE-340",
    "KA-SCL-BRW-01",
    "KA-FLT-V02-100",
    "KA-CAN-VAC-1L",
    "KA-TMP-58-SS",
    "KA-PIT-MLK-600",
    "KA-CLN-TAB-50",
    "KA-KNK-BOX-01",
    "BK-WAC-2ED",
    "BK-ESP-PRO",
    "BK-TEA-COM",
    "BK-ROA-HOM",
    "BK-SCI-COF",
    "BK-LAT-ART",
    "AP-TEE-LOG-M",
    "AP-TEE-LOG-L",
    "AP-HOO-ROA-M",
    "AP-HOO-ROA-L",
    "AP-APR-CNV-01",
    "AP-CAP-BEN-01",
    "AP-TOT-CNV-01",
];

/// Products seeded with `in_stock = FALSE` in SQL; inventory reports 0 for them so the two
/// sources tell the same story in the demo.
pub const OUT_OF_STOCK: [i64; 9] = [6, 9, 16, 25, 32, 39, 47, 52, 57];

/// The storefront category a product belongs to, as a 0-based index into the eight categories
/// of the SQL seed (Coffee Beans .. Apparel). Reviews pick texts by category so that a grinder
/// is not praised for its "bright acidity".
pub fn category_of(product_id: i64) -> usize {
    match product_id {
        1..=10 => 0,
        11..=18 => 1,
        19..=27 => 2,
        28..=32 => 3,
        33..=40 => 4,
        41..=47 => 5,
        48..=53 => 6,
        _ => 7,
    }
}

/// A tiny linear congruential generator: the seed data must be identical on every run and
/// platform, and a 64-bit LCG (Knuth's MMIX constants) gives that without a `rand` dependency.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next value in `0..bound` (`bound` > 0); uses the high bits, which are the
    /// well-distributed ones in an LCG.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn skus_are_sixty_and_unique() {
        let unique: HashSet<_> = SKUS.iter().collect();
        assert_eq!(unique.len(), 60);
    }

    #[test]
    fn the_generator_is_deterministic() {
        let (mut a, mut b) = (Lcg::new(7), Lcg::new(7));
        let xs: Vec<u64> = (0..20).map(|_| a.below(100)).collect();
        let ys: Vec<u64> = (0..20).map(|_| b.below(100)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| *x < 100));
    }
}
