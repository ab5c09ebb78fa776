"""A deterministic synthetic catalog in the crawler's shape ({"movies":[...]}, each entry with
TMDB's fields, as core's `catalog::Movie`), for the benchmarks. Nothing in it comes from
MovieLens or TMDB.

- 200 movies (the default), for the whole-job benchmark: `cinerec-trainer preprocess --movies
  CATALOG --users 100000 --seed 1` makes about 1,000,000 rows of it. Distinct ratings and
  popularities, so the item objective can tell the movies apart.
- `--movies 9742` (MovieLens latest-small's size), for the large-catalog benchmark:
  `cinerec-trainer preprocess --taste --movies CATALOG --users 10000 --seed 1` makes about
  100,000 rows of viewers with favourite genres and languages.

Run: python3 scripts/bench_catalog.py OUT.json [--movies N]
"""
import argparse
import json
import random

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--movies", type=int, default=200)
args = parser.parse_args()

rng = random.Random(1)
movies = [
    {
        "adult": False,
        "backdrop_path": f"/backdrop{i}.jpg",
        "genre_ids": sorted(rng.sample([12, 14, 16, 18, 27, 28, 35, 53, 80, 878, 10749], 2)),
        "id": 100_000 + 37 * i,
        "original_language": rng.choice(["en", "ko", "ja", "fr"]),
        "original_title": f"Synthetic Movie {i}",
        "overview": "",
        "popularity": round(rng.uniform(5.0, 900.0), 3),
        "poster_path": f"/poster{i}.jpg",
        "release_date": f"{rng.randint(1990, 2026)}-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}",
        "title": f"합성 영화 {i}",
        "video": False,
        "vote_average": round(rng.uniform(3.0, 9.5), 3),
        "vote_count": rng.randint(10, 30_000),
    }
    for i in range(args.movies)
]
with open(args.out, "w", encoding="utf-8") as out:
    json.dump({"movies": movies}, out, ensure_ascii=False)
