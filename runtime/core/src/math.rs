//! The few floating-point functions the kernels need that `core` lacks.
//!
//! With the `std` feature they are the standard library's methods, so a
//! training run computes exactly what it always did; without it (a deploy
//! build) they come from `libm`.

/// `√x` in double precision.
#[inline]
pub fn sqrt(x: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sqrt(x)
    }
}

/// `√x` in single precision.
#[inline]
pub fn sqrtf(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sqrtf(x)
    }
}

/// The natural logarithm in double precision.
#[inline]
pub fn ln(x: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.ln()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::log(x)
    }
}

/// The smallest integer not below `x`.
#[inline]
pub fn ceil(x: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.ceil()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::ceil(x)
    }
}

/// `xʸ` in double precision.
#[inline]
pub fn powf(x: f64, y: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.powf(y)
    }
    #[cfg(not(feature = "std"))]
    {
        libm::pow(x, y)
    }
}

/// `eˣ` in double precision.
#[inline]
pub fn exp(x: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.exp()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::exp(x)
    }
}

/// `ln(1 + x)` in double precision, accurate for small `x`.
#[inline]
pub fn ln_1p(x: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.ln_1p()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::log1p(x)
    }
}
