use super::*;

#[test]
fn median_ignores_nan_and_handles_even_counts() {
    assert_eq!(median(&[3.0, f64::NAN, 1.0, 2.0, 4.0]), Some(2.5));
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[f64::NAN]), None);
}

#[test]
fn constant_series_gets_a_floor_not_a_zero_scale() {
    let b = Baseline::of(&[10.0; 20]).expect("baseline");
    assert!((b.scale - 0.5).abs() < 1e-12);
    assert!((b.z(11.0) - 2.0).abs() < 1e-9);
    let zero = Baseline::of(&[0.0; 5]).expect("baseline");
    assert!(zero.z(1.0).is_finite());
}

#[test]
fn robust_scale_follows_iqr() {
    let xs: Vec<f64> = (0..101).map(f64::from).collect();
    let b = Baseline::of(&xs).expect("baseline");
    assert_eq!(b.median, 50.0);
    // Uniform data: IQR/1.349 and 1.4826·MAD nearly agree; the larger one wins.
    assert!((b.scale - (50.0 / 1.349f64).max(1.4826 * 25.0)).abs() < 1e-9);
}
