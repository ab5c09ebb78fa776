"""Writes popular_page1.json: an invented TMDB popular page in the real schema (see README.md)."""
import json
import random

rng = random.Random(20261124)
titles = [("새벽의 추적자", "Dawn Chaser"), ("유리 정원", "The Glass Garden"), ("북쪽 바다", "North Sea"),
          ("열두 번째 밤", "Twelfth Night Run"), ("그림자 도시", "Shadow City"), ("마지막 기차", "The Last Train"),
          ("Kapitan Volkov", "Kapitan Volkov"), ("달빛 약속", "Moonlight Promise"), ("붉은 사막", "Red Desert"),
          ("작은 거인", "Little Giant"), ("El Silencio", "El Silencio"), ("바람의 노래", "Song of the Wind"),
          ("은하 정거장", "Galaxy Station"), ("조용한 이웃", "Quiet Neighbor"), ("검은 파도", "Black Wave"),
          ("여름 방학", "Summer Break"), ("하늘 도서관", "Sky Library"), ("거울 속 남자", "Man in the Mirror"),
          ("첫눈", "First Snow"), ("황야의 늑대", "Wolf of the Wilds")]
pops = [2431.507, 1802.118, 1133.9, 902.44, 716.052, 655.3, 603.871, 566.212, 541.09, 522.6, 503.774,
        481.35, 466.02, 452.918, 440.1, 424.66, 411.305, 402.87, 391.004, 380.512]
movies = []
for i, ((ko, en), pop) in enumerate(zip(titles, pops)):
    vote = round(min(8.9, max(4.2, rng.gauss(6.8, 0.85))), 3)
    count = int(800 * 2.7 ** rng.gauss(0, 1.2)) + 1
    if i == 13:
        vote, count = 0.0, 0
    mid = 400000 + rng.randrange(900000)
    untranslated = ko == en
    korean = not untranslated and i % 3 == 0
    language = "ko" if korean else ("ru" if en.startswith("Kap") else ("es" if en.startswith("El") else "en"))
    movies.append({
        "adult": False,
        "backdrop_path": None if i in (4, 13) else "/bd%06d.jpg" % mid,
        "genre_ids": sorted(rng.sample([28, 12, 16, 35, 80, 18, 10751, 14, 27, 9648, 10749, 878, 53], rng.randint(1, 3))),
        "id": mid,
        "original_language": language,
        "original_title": ko if korean else en,
        "overview": "" if i % 4 == 1 or untranslated else f"{ko}에 관한 이야기.",
        "popularity": pop,
        "poster_path": None if i == 13 else "/p%06d.jpg" % mid,
        "release_date": "" if i == 13 else "%d-%02d-%02d" % (rng.choice([2023, 2024, 2025]), rng.randint(1, 12), rng.randint(1, 28)),
        "title": ko, "video": False, "vote_average": vote, "vote_count": count,
    })
page = {"page": 1, "results": movies, "total_pages": 40578, "total_results": 811554}
with open("popular_page1.json", "w") as out:
    out.write(json.dumps(page, ensure_ascii=False, indent=2) + "\n")
