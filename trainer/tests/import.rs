//! `import` through the real binary: each MovieLens format from small made-up files, the
//! event order, the unseen split, the rules for imperfect data, and a log `train` loads.
//!
//! Every movie, viewer and rating here is invented: MovieLens' licence forbids copying its
//! rows.

mod support;

use serde_json::Value;
use support::{Run, Workspace};

const LOG_HEADER: &str = "user_id,content_id,watch_seconds,rating,popularity,timestamp";

/// `import --from FROM --out-movies out/movies.json --out-log out/log.csv` and `extra`.
fn import(ws: &Workspace, from: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "import",
        "--from",
        from,
        "--out-movies",
        "out/movies.json",
        "--out-log",
        "out/log.csv",
    ];
    args.extend_from_slice(extra);
    ws.run(&args)
}

/// Asserts that standard error has `text`.
fn says(run: &Run, text: &str) {
    assert!(
        run.stderr.contains(text),
        "{text:?} not in:\n{}",
        run.stderr
    );
}

fn catalog(ws: &Workspace) -> Vec<Value> {
    ws.read_json("out/movies.json")["movies"]
        .as_array()
        .unwrap()
        .clone()
}

fn log(ws: &Workspace, name: &str) -> Vec<String> {
    let text = String::from_utf8(ws.read(name)).unwrap();
    let mut lines = text.lines().map(str::to_string);
    assert_eq!(lines.next().as_deref(), Some(LOG_HEADER));
    lines.collect()
}

/// The (user, content id) pairs of a log, in order.
fn events(lines: &[String]) -> Vec<(u64, u64)> {
    lines
        .iter()
        .map(|line| {
            let mut fields = line.split(',').map(|field| field.parse::<u64>().ok());
            (
                fields.next().flatten().unwrap(),
                fields.next().flatten().unwrap(),
            )
        })
        .collect()
}

/// u.item's line for a movie: id, title, date, no video date, no URL, the 19 genre flags.
fn u_item(id: u64, title: &[u8], date: &str, genres: &[usize]) -> Vec<u8> {
    let mut line = format!("{id}|").into_bytes();
    line.extend_from_slice(title);
    line.extend_from_slice(format!("|{date}||http://example.invalid/").as_bytes());
    for flag in 0..19 {
        line.extend_from_slice(if genres.contains(&flag) { b"|1" } else { b"|0" });
    }
    line.push(b'\n');
    line
}

#[test]
fn ml_100k_latin_1_titles_dates_genres_and_the_figures_of_each_movie() {
    let ws = Workspace::new();
    let mut item = Vec::new();
    // Flags: 4 Children's, 5 Comedy, 10 Film-Noir, 15 Sci-Fi.
    item.extend(u_item(
        1,
        b"Caf\xe9 Lumi\xe8re (1995)",
        "01-Jan-1995",
        &[4, 5],
    ));
    item.extend(u_item(2, b"Night Ferry (1948)", "", &[10, 15]));
    item.extend(u_item(3, b"Nobody Saw This", "", &[]));
    ws.write("ml/u.item", item);
    ws.write("ml/u.data", "7\t1\t5\t1000\n7\t2\t3\t1001\n8\t1\t4\t900\n");
    let run = import(&ws, "ml", &[]).success();
    says(&run, "u.item (Latin-1, not valid UTF-8): 3 movies");
    says(&run, "u.data (UTF-8): 3 ratings");
    says(&run, "left out of genre_ids: Film-Noir (1 movies)");
    let movies = catalog(&ws);
    assert_eq!(movies.len(), 3, "a movie nobody rated is kept");
    let first = &movies[0];
    assert_eq!(first["id"], 1);
    assert_eq!(first["title"], "Café Lumière");
    assert_eq!(first["original_title"], "Café Lumière");
    assert_eq!(first["release_date"], "1995-01-01");
    assert_eq!(first["genre_ids"], serde_json::json!([10751, 35]));
    assert_eq!(first["vote_average"], 9.0);
    assert_eq!(first["vote_count"], 2);
    assert_eq!(first["popularity"], 2.5);
    assert_eq!(first["poster_path"], Value::Null);
    assert_eq!(first["original_language"], "");
    assert_eq!(
        movies[1]["release_date"], "1948-01-01",
        "the year of the title"
    );
    assert_eq!(movies[1]["genre_ids"], serde_json::json!([878]));
    assert_eq!(movies[2]["title"], "Nobody Saw This");
    assert_eq!(movies[2]["release_date"], "");
    assert_eq!(movies[2]["vote_average"], 0.0);
    assert_eq!(movies[2]["vote_count"], 0);
    assert_eq!(movies[2]["popularity"], 0.5);
    assert_eq!(
        log(&ws, "out/log.csv"),
        [
            "7,1,7200,9.0,2.5,1000",
            "7,2,4320,6.0,1.5,1001",
            "8,1,5760,9.0,2.5,900",
        ]
    );
}

#[test]
fn ml_1m_and_10m_double_colons_half_stars_and_either_encoding() {
    let ws = Workspace::new();
    // ML-1M is Latin-1; a title may hold a colon.
    ws.write(
        "ml-1m/movies.dat",
        b"1::Alien: The Harbor (1979)::Horror|Sci-Fi\n2::Caf\xe9 (1990)::Children's|Musical\n"
            .as_slice(),
    );
    ws.write(
        "ml-1m/ratings.dat",
        "3::1::4::978300760\n3::2::2::978300761\n",
    );
    let run = import(&ws, "ml-1m/ratings.dat", &[]).success();
    says(&run, "import: ml-1m from");
    says(
        &run,
        "ratings.dat (UTF-8): 2 ratings; movies.dat (Latin-1, not valid UTF-8): 2 movies",
    );
    says(&run, "movies.dat (Latin-1");
    let movies = catalog(&ws);
    assert_eq!(movies[0]["title"], "Alien: The Harbor");
    assert_eq!(movies[0]["genre_ids"], serde_json::json!([27, 878]));
    assert_eq!(movies[1]["title"], "Café");
    assert_eq!(movies[1]["genre_ids"], serde_json::json!([10751, 10402]));

    // ML-10M is UTF-8 and has half stars, which keep their fraction.
    ws.write(
        "ml-10m/movies.dat",
        "5::Amélie's Garden (2001)::Children|IMAX\n",
    );
    ws.write(
        "ml-10m/ratings.dat",
        "9::5::3.5::1100000000\n10::5::0.5::1100000001\n",
    );
    let run = import(&ws, "ml-10m", &["--format", "ml-10m"]).success();
    says(&run, "movies.dat (UTF-8)");
    assert_eq!(catalog(&ws)[0]["title"], "Amélie's Garden");
    assert_eq!(catalog(&ws)[0]["genre_ids"], serde_json::json!([10751]));
    assert_eq!(
        log(&ws, "out/log.csv"),
        ["9,5,5040,4.0,2.5,1100000000", "10,5,720,4.0,2.5,1100000001"]
    );
}

const LATEST_MOVIES: &str = "movieId,title,genres\n\
    1,\"Crimson Harbor, Part 2 (2001)\",Action|Drama\n\
    2,\"The \"\"Quiet\"\" One, Again (1999)\",Comedy|Romance\n\
    3,Lost Reel (1950),(no genres listed)\n\
    4,Unwatched (2020),Western\n";
const LATEST_LINKS: &str =
    "movieId,imdbId,tmdbId\n1,0100001,9001\n2,0100002,9002\n3,0100003,\n4,0100004,9004\n";
const LATEST_RATINGS: &str = "userId,movieId,rating,timestamp\n\
    1,1,4.5,1500000000\n1,3,2.0,1500000001\n2,2,3.0,1500000002\n2,3,5.0,1500000003\n";

#[test]
fn ml_latest_quoted_titles_tmdb_ids_and_movies_without_one() {
    let ws = Workspace::new();
    ws.write("latest/movies.csv", LATEST_MOVIES);
    ws.write("latest/links.csv", LATEST_LINKS);
    ws.write("latest/ratings.csv", LATEST_RATINGS);
    let run = import(&ws, "latest", &[]).success();
    says(&run, "links.csv (UTF-8): a tmdbId for 3 of them");
    says(
        &run,
        "import: 1 movies without a tmdbId dropped, with their 2 ratings \
             (movieId 3 \"Lost Reel\")",
    );
    let movies = catalog(&ws);
    let ids: Vec<u64> = movies.iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [9001, 9002, 9004]);
    assert_eq!(movies[0]["title"], "Crimson Harbor, Part 2");
    assert_eq!(movies[1]["title"], "The \"Quiet\" One, Again");
    assert_eq!(movies[1]["release_date"], "1999-01-01");
    assert_eq!(
        log(&ws, "out/log.csv"),
        [
            "1,9001,6480,9.0,1.5,1500000000",
            "2,9002,4320,6.0,1.5,1500000002"
        ]
    );

    // Keeping MovieLens ids keeps every movie and rating.
    let run = import(&ws, "latest", &["--ids", "movielens"]).success();
    says(&run, "content ids are the MovieLens movie ids");
    let ids: Vec<u64> = catalog(&ws)
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    assert_eq!(catalog(&ws)[2]["vote_average"], 7.0);
    assert_eq!(log(&ws, "out/log.csv").len(), 4);
}

#[test]
fn two_movies_with_one_tmdb_id_never_share_a_content_id() {
    let ws = Workspace::new();
    ws.write("latest/movies.csv", LATEST_MOVIES);
    ws.write(
        "latest/links.csv",
        "movieId,imdbId,tmdbId\n1,1,9001\n2,2,9001\n3,3,9003\n4,4,9004\n",
    );
    ws.write("latest/ratings.csv", LATEST_RATINGS);
    let run = import(&ws, "latest", &[]).success();
    says(
        &run,
        "1 movies whose tmdbId an earlier movie has dropped, with their 1 ratings \
             (movieId 2 \"The \\\"Quiet\\\" One, Again\" (tmdbId 9001))",
    );
    let ids: Vec<u64> = catalog(&ws)
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [9001, 9003, 9004]);
}

#[test]
fn recbole_columns_are_found_by_name() {
    let ws = Workspace::new();
    ws.write(
        "rb/tiny.item",
        "class:token_seq\titem_id:token\trelease_year:token\tmovie_title:token_seq\n\
         Drama Film-Noir\t10\t1961\tThe Long Pier\n\
         Sci-Fi\t11\tunknown\tStar Orchard\n",
    );
    ws.write(
        "rb/tiny.inter",
        "timestamp:float\trating:float\titem_id:token\tuser_id:token\n\
         881250949.0\t3\t10\t196\n\
         881250950\t4\t11\t196\n",
    );
    let run = import(&ws, "rb", &[]).success();
    says(&run, "import: recbole from");
    says(
        &run,
        "tiny.item: 1 release_year values are not years ('unknown' on line 3)",
    );
    let movies = catalog(&ws);
    assert_eq!(movies[0]["title"], "The Long Pier");
    assert_eq!(movies[0]["release_date"], "1961-01-01");
    assert_eq!(movies[0]["genre_ids"], serde_json::json!([18]));
    assert_eq!(movies[1]["release_date"], "");
    assert_eq!(
        log(&ws, "out/log.csv"),
        [
            "196,10,4320,6.0,1.5,881250949",
            "196,11,5760,8.0,1.5,881250950"
        ]
    );
}

#[test]
fn events_of_one_second_are_ordered_by_hash_not_by_movie_id() {
    let ws = Workspace::new();
    let mut item = Vec::new();
    for id in 1..=9 {
        item.extend(u_item(id, format!("Movie {id} (2000)").as_bytes(), "", &[]));
    }
    ws.write("ml/u.item", item);
    // Viewer 7 rates movies 1 to 6 in the same second, 9 a second before; viewer 3 later.
    let mut data: String = (1..=6).map(|m| format!("7\t{m}\t3\t1000\n")).collect();
    data.push_str("7\t9\t3\t999\n3\t2\t4\t5000\n");
    ws.write("ml/u.data", data);
    import(&ws, "ml", &[]).success();
    // Python: sorted(range(1, 7), key=lambda m: sha256(f"7:{m}".encode()).hexdigest())
    assert_eq!(
        events(&log(&ws, "out/log.csv")),
        [
            (3, 2),
            (7, 9),
            (7, 4),
            (7, 3),
            (7, 2),
            (7, 1),
            (7, 5),
            (7, 6)
        ]
    );
    let first = ws.read("out/log.csv");
    let catalog = ws.read("out/movies.json");
    import(&ws, "ml", &[]).success();
    assert_eq!(
        ws.read("out/log.csv"),
        first,
        "byte-identical on a second run"
    );
    assert_eq!(ws.read("out/movies.json"), catalog);
}

/// An ML-100k folder: `users` viewers rating four of six movies each.
fn small_100k(ws: &Workspace, users: u64) {
    let mut item = Vec::new();
    for id in 1..=6 {
        item.extend(u_item(
            id,
            format!("Film {id} (1990)").as_bytes(),
            "",
            &[id as usize],
        ));
    }
    ws.write("ml/u.item", item);
    let data: String = (1..=users)
        .flat_map(|user| {
            (0..4).map(move |k| {
                let movie = (user + k) % 6 + 1;
                let stars = (user + k) % 5 + 1;
                format!("{user}\t{movie}\t{stars}\t{}\n", user * 100 + k)
            })
        })
        .collect();
    ws.write("ml/u.data", data);
}

#[test]
fn unseen_viewers_go_to_their_own_log() {
    let ws = Workspace::new();
    small_100k(&ws, 25);
    let run = import(&ws, "ml", &["--unseen-log", "out/unseen.csv"]).success();
    assert!(
        run.stdout
            .contains("84 rows of 21 viewers to out/log.csv; 16 rows of 4 unseen viewers"),
        "{}",
        run.stdout
    );
    let users = |name| {
        let mut users: Vec<u64> = events(&log(&ws, name)).iter().map(|e| e.0).collect();
        users.dedup();
        users
    };
    // Python: [u for u in range(1, 26) if int(sha256(str(u).encode()).hexdigest(), 16) % 5 == 0]
    assert_eq!(users("out/unseen.csv"), [1, 14, 18, 24]);
    let seen = users("out/log.csv");
    assert_eq!(seen.len(), 21);
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(!seen.iter().any(|user| [1, 14, 18, 24].contains(user)));

    // Without --unseen-log, everyone is in the one log.
    import(&ws, "ml", &[]).success();
    assert_eq!(log(&ws, "out/log.csv").len(), 100);
}

#[test]
fn seconds_per_star_sets_the_watch_time() {
    let ws = Workspace::new();
    ws.write("ml/movies.dat", "1::Half Light (2003)::Drama\n");
    ws.write("ml/ratings.dat", "1::1::3.5::10\n2::1::5::11\n");
    import(&ws, "ml", &["--seconds-per-star", "100.5"]).success();
    assert_eq!(
        log(&ws, "out/log.csv"),
        ["1,1,351.75,8.5,2.5,10", "2,1,502.5,8.5,2.5,11"]
    );
    import(&ws, "ml", &["--seconds-per-star=-1"]).fails_with("--seconds-per-star");
    import(&ws, "ml", &["--seconds-per-star", "NaN"]).fails_with("--seconds-per-star");
}

#[test]
fn a_repeated_rating_keeps_the_latest_and_is_counted() {
    let ws = Workspace::new();
    ws.write(
        "ml/movies.dat",
        "1::Echo (2003)::Drama\n2::Echo Again (2004)::Drama\n",
    );
    // The later rating comes first in the file; two of the same second keep the later line.
    ws.write(
        "ml/ratings.dat",
        "1::1::5::20\n1::1::1::10\n1::2::2::30\n1::2::4::30\n",
    );
    let run = import(&ws, "ml", &[]).success();
    says(&run, "import: 2 duplicate ratings");
    assert_eq!(
        log(&ws, "out/log.csv"),
        ["1,1,7200,10.0,1.5,20", "1,2,5760,8.0,1.5,30"]
    );
    assert_eq!(catalog(&ws)[0]["vote_count"], 1);
}

#[test]
fn ratings_of_unknown_movies_are_skipped_and_counted() {
    let ws = Workspace::new();
    ws.write("ml/movies.dat", "1::Known (2003)::Drama\n");
    ws.write(
        "ml/ratings.dat",
        "1::1::5::20\n1::77::1::10\n2::77::2::30\n2::78::4::30\n",
    );
    let run = import(&ws, "ml", &[]).success();
    says(
        &run,
        "import: 3 ratings skipped: their movie id is not in movies.dat (movie ids 77, 78)",
    );
    assert_eq!(log(&ws, "out/log.csv"), ["1,1,7200,10.0,1.5,20"]);
}

#[test]
fn malformed_input_names_file_line_field_and_value_and_writes_nothing() {
    let ws = Workspace::new();
    ws.write("a/u.item", u_item(1, b"One (1990)", "", &[]));
    ws.write("a/u.data", "1\t1\t5\t10\n\n1\t1\tfive\t11\n");
    import(&ws, "a", &[]).fails_with("a/u.data: line 3: rating 'five' is not a number");
    assert!(!ws.join("out").exists(), "nothing is written");

    ws.write("b/movies.dat", "1::One (1990)::Drama\n");
    ws.write("c/ratings.csv", "userId,movieId,rating,timestamp\n");
    ws.write("d/x.item", "item_id:token\n1\n");
    let cases = [
        (
            "b/ratings.dat",
            "1::1::5\n",
            "b/ratings.dat: line 1: expected 4 fields separated by '::', found 3",
        ),
        (
            "b/ratings.dat",
            "1::1::6::10\n",
            "line 1: Rating '6' is not a rating from 0 to 5",
        ),
        (
            "b/ratings.dat",
            "0::1::4::10\n",
            "line 1: UserID '0' is not a positive whole number",
        ),
        (
            "c/movies.csv",
            "movieId,title,genres\nx1,\"A, B (1990)\",Drama\n",
            "c/movies.csv: line 2: movieId 'x1' is not a positive",
        ),
        (
            "c/movies.csv",
            "movieId,title,genres\n1,\"A, B (1990)\",Drama\n1,Again (1991),Drama\n",
            "line 3: movieId 1 appears again (first on line 2)",
        ),
        (
            "c/movies.csv",
            "movieId,name,genres\n",
            "c/movies.csv: line 1: header lacks the column title",
        ),
        (
            "d/x.inter",
            "user_id:token\titem_id:token\trating:float\n1\t1\t3\n",
            "d/x.inter: line 1: header lacks the column timestamp",
        ),
    ];
    for (file, contents, expected) in cases {
        ws.write(file, contents);
        import(&ws, &file[..1], &[]).fails_with(expected);
    }

    ws.write(
        "d/x.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n",
    );
    import(&ws, "d", &["--unseen-log", "out/log.csv"])
        .fails_with("out/log.csv is given as two outputs");
}

#[test]
fn missing_files_and_unclear_folders_say_what_was_expected() {
    let ws = Workspace::new();
    ws.write("a/u.data", "1\t1\t5\t10\n");
    import(&ws, "a", &[]).fails_with("a/u.item is missing: ml-100k needs u.data and u.item");
    ws.write("b/notes.txt", "nothing here");
    import(&ws, "b", &[]).fails_with("no MovieLens files found (expected u.data + u.item");
    import(&ws, "nowhere", &[]).fails_with("--from nowhere");
    ws.write("c/u.data", "");
    ws.write("c/ratings.csv", "");
    import(&ws, "c", &[]).fails_with("holds files of several formats (u.data, ratings.csv)");
    ws.write("c/movies.csv", "movieId,title,genres\n1,One (1990),Drama\n");
    ws.write(
        "c/ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,4,10\n",
    );
    let run = import(&ws, "c", &["--format", "ml-latest"]).success();
    says(&run, "content ids are the MovieLens movie ids");
    import(&ws, "c", &["--format", "ml-latest", "--ids", "tmdb"])
        .fails_with("--ids tmdb needs links.csv");
}

#[test]
fn the_help_gives_the_rules_for_imperfect_data() {
    let run = Workspace::new().run(&["import", "--help"]).success();
    for rule in [
        "the latest rating is kept",
        "A rating of a movie id the movies file lacks: skipped",
        "dropped with its ratings",
        "read as Latin-1",
        "--seconds-per-star <SECONDS>",
    ] {
        assert!(
            run.stdout.contains(rule),
            "{rule:?} not in:\n{}",
            run.stdout
        );
    }
}

#[test]
fn train_loads_an_imported_log() {
    let ws = Workspace::new();
    small_100k(&ws, 25);
    import(&ws, "ml", &[]).success();
    let run = ws
        .run(&[
            "train",
            "--watch-log",
            "out/log.csv",
            "--movies",
            "out/movies.json",
            "--out",
            "model",
            "--epochs",
            "1",
        ])
        .success();
    assert!(run.stdout.contains("model "), "{}", run.stdout);
    let metrics = ws.read_json("model/metrics.json");
    assert_eq!(metrics["rows"], 100);
    assert_eq!(metrics["classes"], 6);
}
