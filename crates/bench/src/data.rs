//! Data the benchmarks write and measure: sizes of trees, incompressible bytes, and
//! CityGML-like text.

use std::path::Path;

/// Total size of the files under `dir` (0 when it does not exist).
pub fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            total += tree_bytes(&entry.path());
        } else if kind.is_file() {
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    total
}

/// Deterministic, incompressible bytes (splitmix64): random enough that gzip cannot
/// shrink them and every seed gives a layer the registry has never seen.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// CityGML-like text of about `len` bytes: LoD2 buildings (four walls, floor and roof,
/// each a closed ring whose vertices recur in the neighbouring surfaces) with a few
/// attributes. Compresses about twelve times with gzip's fastest level, as the team's
/// stage outputs do (ten to twenty).
pub fn citygml(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = seed | 1;
    let mut next = |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut out = String::with_capacity(len + 4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<core:CityModel xmlns:core=\"http://www.opengis.net/citygml/2.0\" xmlns:bldg=\"http://www.opengis.net/citygml/building/2.0\" xmlns:gml=\"http://www.opengis.net/gml\" xmlns:gen=\"http://www.opengis.net/citygml/generics/2.0\">\n");
    let mut id = 0u64;
    while out.len() < len {
        id += 1;
        let (x, y) = (1_840_000 + next(10_000), 5_170_000 + next(10_000));
        let (z, h) = (160 + next(40), 3 + next(27));
        let (w, d) = (5 + next(15), 5 + next(15));
        let frac = next(10);
        let corners = [(x, y), (x + w, y), (x + w, y + d), (x, y + d)];
        let point = |(a, b): (u64, u64), c: u64| format!("{a}.{frac} {b}.{frac} {c}.0");
        out.push_str(&format!(
            " <core:cityObjectMember>\n  <bldg:Building gml:id=\"BU_69123_{id:07}\">\n   <gen:stringAttribute name=\"commune\"><gen:value>69123</gen:value></gen:stringAttribute>\n   <bldg:function>1000</bldg:function>\n   <bldg:measuredHeight uom=\"m\">{h}</bldg:measuredHeight>\n   <bldg:lod2MultiSurface>\n    <gml:MultiSurface>\n"
        ));
        let mut ring = |points: Vec<String>| {
            out.push_str("     <gml:surfaceMember>\n      <gml:Polygon>\n       <gml:exterior>\n        <gml:LinearRing>\n         <gml:posList srsDimension=\"3\">");
            out.push_str(&points.join(" "));
            out.push_str("</gml:posList>\n        </gml:LinearRing>\n       </gml:exterior>\n      </gml:Polygon>\n     </gml:surfaceMember>\n");
        };
        for side in 0..4 {
            let (a, b) = (corners[side], corners[(side + 1) % 4]);
            ring(vec![
                point(a, z),
                point(b, z),
                point(b, z + h),
                point(a, z + h),
                point(a, z),
            ]);
        }
        for level in [z, z + h] {
            let mut points: Vec<String> = corners.iter().map(|&c| point(c, level)).collect();
            points.push(point(corners[0], level));
            ring(points);
        }
        out.push_str("    </gml:MultiSurface>\n   </bldg:lod2MultiSurface>\n  </bldg:Building>\n </core:cityObjectMember>\n");
    }
    out.push_str("</core:CityModel>\n");
    out.into_bytes()
}

/// A seed that differs between invocations and calls.
pub fn fresh_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_deterministic_and_sized() {
        assert_eq!(noise(7, 13), noise(7, 13));
        assert_ne!(noise(7, 64), noise(8, 64));
        assert_eq!(noise(1, 1001).len(), 1001);
    }

    #[test]
    fn citygml_is_sized_and_compresses_like_the_teams_results() {
        let text = citygml(3, 2_000_000);
        assert!(
            (2_000_000..2_010_000).contains(&text.len()),
            "{}",
            text.len()
        );
        assert_eq!(text, citygml(3, 2_000_000));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &text).unwrap();
        let ratio = text.len() as f64 / gz.finish().unwrap().len() as f64;
        assert!((8.0..25.0).contains(&ratio), "gzip -1 ratio {ratio:.1}");
    }
}
