//! Generated SVG posters (164×250): the demo catalog's posters, and the stand-in for a
//! crawled movie that TMDB has no poster for.

use cinerec_core::catalog::Movie;

/// Poster width in pixels (the original page's card size).
pub const WIDTH: u32 = 164;
/// Poster height in pixels.
pub const HEIGHT: u32 = 250;

/// A poster showing the title, year and rating on a two-tone background of hue `hue`
/// (degrees).
pub fn svg(movie: &Movie, hue: f64) -> String {
    let hue = hue.rem_euclid(360.0);
    let second = (hue + 40.0).rem_euclid(360.0);
    let year = movie.release_date.get(..4).unwrap_or("");
    let mut text = String::new();
    for (line, words) in wrap(&movie.title, 9).iter().take(4).enumerate() {
        text.push_str(&format!(
            "  <text x=\"14\" y=\"{}\" font-size=\"18\" font-weight=\"700\" fill=\"#fff\">{}</text>\n",
            150 + line as u32 * 22,
            escape(words)
        ));
    }
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="'Noto Sans KR', 'Apple SD Gothic Neo', sans-serif">
  <title>{title}</title>
  <defs>
    <linearGradient id="g" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="hsl({hue:.1}, 62%, 46%)"/>
      <stop offset="1" stop-color="hsl({second:.1}, 58%, 16%)"/>
    </linearGradient>
  </defs>
  <rect width="{WIDTH}" height="{HEIGHT}" fill="url(#g)"/>
  <circle cx="128" cy="44" r="64" fill="hsl({second:.1}, 70%, 70%)" opacity="0.25"/>
  <text x="14" y="34" font-size="13" fill="#FDC000" letter-spacing="2">CINEREC</text>
{text}  <text x="14" y="234" font-size="14" fill="#ddd">{year}</text>
  <text x="150" y="234" font-size="14" fill="#FDC000" text-anchor="end">★ {rating:.1}</text>
</svg>
"##,
        title = escape(&movie.title),
        rating = movie.vote_average,
    )
}

/// Greedy word wrap by character count; a word longer than a line gets a line of its own.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_words_by_width() {
        assert_eq!(
            wrap("고요한 항구의 마지막 여름", 9),
            ["고요한 항구의", "마지막 여름"]
        );
        assert_eq!(wrap("", 9), Vec::<String>::new());
    }

    #[test]
    fn escapes_markup_in_titles() {
        let movie = Movie {
            adult: false,
            backdrop_path: None,
            genre_ids: vec![],
            id: 1,
            original_language: "en".into(),
            original_title: "Tom & <Jerry>".into(),
            overview: String::new(),
            popularity: 1.0,
            poster_path: None,
            release_date: String::new(),
            title: "Tom & <Jerry>".into(),
            video: false,
            vote_average: 7.25,
            vote_count: 3,
        };
        let poster = svg(&movie, 400.0);
        assert!(poster.contains("Tom &amp; &lt;Jerry&gt;"));
        assert!(!poster.contains("<Jerry>"));
        assert!(poster.contains("hsl(40.0, 62%"), "hue wraps around");
        assert!(poster.contains("width=\"164\" height=\"250\""));
    }
}
