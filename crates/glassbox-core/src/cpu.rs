//! The CPU a benchmark ran on, in words: its model name and the vector extensions glassbox's
//! kernels (and the libraries it uses) can choose between at run time.
//!
//! Every benchmark report carries this line so that figures from two machines are never mixed.

use serde::Serialize;

/// A CPU's model name and the vector extensions it reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuInfo {
    /// The model name (`/proc/cpuinfo`'s `model name` on Linux), or the architecture where the
    /// system does not say.
    pub model: String,
    /// Logical CPUs the process may run on.
    pub logical_cpus: usize,
    /// Vector extensions detected at run time, in a fixed order (for x86-64: AVX, AVX2, FMA,
    /// F16C, AVX-512F/BW/VL/VNNI, AVX-VNNI; for AArch64: NEON, dot product, FP16, SVE).
    pub vector_extensions: Vec<&'static str>,
}

impl CpuInfo {
    /// One line: `model (N logical CPUs; EXT, EXT, …)`.
    pub fn describe(&self) -> String {
        let ext = if self.vector_extensions.is_empty() {
            "no vector extensions detected".to_string()
        } else {
            self.vector_extensions.join(", ")
        };
        format!("{} ({} logical CPUs; {ext})", self.model, self.logical_cpus)
    }
}

/// The CPU this process runs on.
pub fn detect() -> CpuInfo {
    CpuInfo {
        model: model_name().unwrap_or_else(|| std::env::consts::ARCH.to_string()),
        logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        vector_extensions: vector_extensions(),
    }
}

/// The first `model name` line of `/proc/cpuinfo`, with runs of spaces collapsed.
fn model_name() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    model_name_from(&text)
}

fn model_name_from(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        let key = key.trim();
        (key == "model name" || key == "Model" || key == "Hardware")
            .then(|| value.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|v| !v.is_empty())
    })
}

#[cfg(target_arch = "x86_64")]
fn vector_extensions() -> Vec<&'static str> {
    let checks: [(&'static str, bool); 9] = [
        ("AVX", std::arch::is_x86_feature_detected!("avx")),
        ("AVX2", std::arch::is_x86_feature_detected!("avx2")),
        ("FMA", std::arch::is_x86_feature_detected!("fma")),
        ("F16C", std::arch::is_x86_feature_detected!("f16c")),
        ("AVX-512F", std::arch::is_x86_feature_detected!("avx512f")),
        ("AVX-512BW", std::arch::is_x86_feature_detected!("avx512bw")),
        ("AVX-512VL", std::arch::is_x86_feature_detected!("avx512vl")),
        (
            "AVX-512VNNI",
            std::arch::is_x86_feature_detected!("avx512vnni"),
        ),
        ("AVX-VNNI", std::arch::is_x86_feature_detected!("avxvnni")),
    ];
    checks
        .into_iter()
        .filter_map(|(name, has)| has.then_some(name))
        .collect()
}

#[cfg(target_arch = "aarch64")]
fn vector_extensions() -> Vec<&'static str> {
    let checks: [(&'static str, bool); 4] = [
        ("NEON", std::arch::is_aarch64_feature_detected!("neon")),
        (
            "DOTPROD",
            std::arch::is_aarch64_feature_detected!("dotprod"),
        ),
        ("FP16", std::arch::is_aarch64_feature_detected!("fp16")),
        ("SVE", std::arch::is_aarch64_feature_detected!("sve")),
    ];
    checks
        .into_iter()
        .filter_map(|(name, has)| has.then_some(name))
        .collect()
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn vector_extensions() -> Vec<&'static str> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_name_is_the_first_model_name_line_collapsed() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 143\nmodel name\t: Intel(R)  Xeon(R)   Platinum\nflags\t\t: fpu\nprocessor\t: 1\nmodel name\t: other\n";
        assert_eq!(
            model_name_from(text).as_deref(),
            Some("Intel(R) Xeon(R) Platinum")
        );
        assert_eq!(model_name_from("processor\t: 0\n"), None);
        assert_eq!(model_name_from("model name\t:   \n"), None);
    }

    #[test]
    fn the_description_names_the_model_count_and_extensions() {
        let info = CpuInfo {
            model: "Example CPU".into(),
            logical_cpus: 2,
            vector_extensions: vec!["AVX2", "FMA"],
        };
        assert_eq!(info.describe(), "Example CPU (2 logical CPUs; AVX2, FMA)");
        let bare = CpuInfo {
            vector_extensions: vec![],
            ..info
        };
        assert!(bare.describe().ends_with("no vector extensions detected)"));
        let here = detect();
        assert!(!here.model.is_empty());
        assert!(here.logical_cpus >= 1);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            assert!(here.vector_extensions.contains(&"AVX2"));
        }
    }
}
