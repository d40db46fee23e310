//! The loss curve as a self-contained SVG (train loss per step, held-out loss at evaluations),
//! written without a plotting library: a few axes, ticks and two polylines.

use std::fmt::Write as _;

/// Renders the curves; `train` and `eval` are (step, loss) points.
pub fn loss_svg(title: &str, train: &[(u64, f64)], eval: &[(u64, f64)]) -> String {
    let (w, h) = (720.0, 420.0);
    let (left, right, top, bottom) = (64.0, 20.0, 36.0, 48.0);
    let pts: Vec<(f64, f64)> = train
        .iter()
        .chain(eval)
        .map(|(s, l)| (*s as f64, *l))
        .filter(|(_, l)| l.is_finite())
        .collect();
    let max_x = pts.iter().map(|p| p.0).fold(1.0, f64::max);
    let (mut lo, mut hi) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    let pad = (hi - lo) * 0.05;
    let (lo, hi) = (lo - pad, hi + pad);
    let x = |s: f64| left + (s / max_x) * (w - left - right);
    let y = |l: f64| top + (hi - l) / (hi - lo) * (h - top - bottom);
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = write!(
        o,
        "<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/><text x=\"{left}\" y=\"22\" font-size=\"14\">{}</text>",
        escape(title)
    );
    let _ = write!(
        o,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/>",
        h - bottom,
        w - right,
        h - bottom
    );
    let _ = write!(
        o,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"#333\"/>",
        h - bottom
    );
    for k in 0..=4 {
        let l = lo + (hi - lo) * k as f64 / 4.0;
        let s = max_x * k as f64 / 4.0;
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{l:.2}</text>",
            left - 6.0,
            y(l) + 4.0
        );
        let _ = write!(
            o,
            "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#eee\"/>",
            y(l),
            w - right
        );
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x(s),
            h - bottom + 18.0,
            s.round() as u64
        );
    }
    let _ = write!(
        o,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step</text>",
        (left + w - right) / 2.0,
        h - 8.0
    );
    let line = |pts: &[(u64, f64)], color: &str, o: &mut String| {
        let path: Vec<String> = pts
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|(s, l)| format!("{:.1},{:.1}", x(*s as f64), y(*l)))
            .collect();
        if !path.is_empty() {
            let _ = write!(
                o,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>",
                path.join(" ")
            );
        }
    };
    line(train, "#1f77b4", &mut o);
    line(eval, "#d62728", &mut o);
    for (s, l) in eval.iter().filter(|p| p.1.is_finite()) {
        let _ = write!(
            o,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#d62728\"/>",
            x(*s as f64),
            y(*l)
        );
    }
    let _ = write!(
        o,
        "<text x=\"{}\" y=\"{}\" fill=\"#1f77b4\">train loss</text><text x=\"{}\" y=\"{}\" fill=\"#d62728\">held-out loss</text></svg>",
        w - 220.0,
        top + 4.0,
        w - 120.0,
        top + 4.0
    );
    o
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn svg_has_both_curves() {
        let s = super::loss_svg("run <x>", &[(0, 9.0), (1, 8.0), (2, 7.5)], &[(2, 7.7)]);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 2);
        assert!(s.contains("run &lt;x&gt;"));
    }
}
