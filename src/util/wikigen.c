/*
 * wikigen.c — realistic Wikipedia edit events (see wikigen.h).
 *
 * Entry points: wikigen_new(), wikigen_next(), wikigen_free().
 *
 * How an event is made: pick a channel by its share of traffic; decide robot
 * / anonymous / IPv6 editor by the channel's rates; draw the user by
 * popularity rank (Zipf, continuous inversion) and turn the rank into a name
 * with a hash, so names are stable; likewise the page (namespace first, then
 * a ranked title); compose a comment from phrase templates; draw added or
 * deleted from piecewise log-linear quantile tables shaped like the real
 * data. Anonymous editors get a location derived from their address, so one
 * IP always maps to one place. The line is built in a stack buffer with
 * bounded appends and copied into the caller's buffer once.
 *
 * The rates and shares in the tables below were read off the public Druid
 * quickstart data (wikiticker-2015-09-12); the word lists are made up.
 *
 * Why one file of ~1,400 lines: about half of it is the data the generator draws
 * from (word lists and comment templates per language); the rest is the one generator
 * that reads it, with its helpers.
 */
#include "util/wikigen.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- word material ----------------------------------------------------- */

struct words {
    const char *const *w;
    uint32_t n;
};
// clang-format off
#define WORDS(a) {a, (uint32_t)LS_ARRAY_LEN(a)}

static const char *const w_en[] = {
    "River", "Battle", "History", "Station", "Church", "School", "Mountain", "Island", "Bridge",
    "Park", "Castle", "Lake", "North", "South", "East", "West", "New", "Old", "Great", "Little",
    "Saint", "Royal", "National", "American", "British", "Football", "Club", "League", "Season",
    "Album", "Song", "Film", "Series", "Party", "Election", "Railway", "Airport", "University",
    "College", "Museum", "Theatre", "County", "District", "Valley", "Harbor", "Fort", "Tower",
    "Music", "Records", "Band", "Championship", "Cup", "Street", "Road", "House", "Hall", "Garden",
    "Empire", "Kingdom", "Republic", "War", "Treaty", "Society", "Company", "Records", "Radio",
    "Television", "Network", "Mission", "Academy", "Festival", "Award", "Tournament", "Open",
    "Jeremy", "Martin", "Oswald", "Henry", "Charles", "Victoria", "Albert", "Eleanor", "Grace",
    "Hamilton", "Lincoln", "Washington", "Jackson", "Morgan", "Taylor", "Harrison", "Wellington",
};
static const char *const w_de[] = {
    "Liste", "der", "die", "von", "Bahnhof", "Kirche", "Schloss", "Burg", "Fluss", "Berg",
    "Straße", "Platz", "Verein", "Fußball", "Landkreis", "Gemeinde", "Stadt", "Dorf", "Museum",
    "Brücke", "Österreich", "Schweiz", "Deutschland", "Bayern", "Sachsen", "Hessen", "Wien",
    "München", "Köln", "Nürnberg", "Unternehmen", "börsennotierten", "österreichischen",
    "Geschichte", "Wahl", "Partei", "Zeitung", "Friedrich", "Müller", "Schäfer", "Weiß", "Groß",
    "Neue", "Alte", "Sankt", "Hochschule", "Universität", "Teufelsberg", "Flughafen", "Turm",
};
static const char *const w_fr[] = {
    "Liste", "des", "de", "du", "la", "le", "Église", "Château", "Gare", "Rivière", "Montagne",
    "Île", "Pont", "Rue", "Place", "Saint", "Sainte", "Bataille", "Histoire", "Musée", "Théâtre",
    "École", "Université", "Élection", "Parti", "Championnat", "Coupe", "France", "Paris", "Lyon",
    "Marseille", "Québec", "Belgique", "Genève", "Bretagne", "Normandie", "Aéroport", "Forêt",
    "Abbaye", "Cathédrale", "Opéra", "Cinéma", "Musique", "Société", "Compagnie", "Française",
};
static const char *const w_it[] = {
    "Chiesa", "di", "del", "della", "San", "Santa", "Castello", "Palazzo", "Stazione", "Fiume",
    "Monte", "Lago", "Isola", "Ponte", "Via", "Piazza", "Battaglia", "Storia", "Museo", "Teatro",
    "Università", "Elezioni", "Partito", "Campionato", "Coppa", "Italia", "Roma", "Milano",
    "Napoli", "Torino", "Firenze", "Venezia", "Persone", "nome", "Alessandra", "Giulio",
    "Calcio", "Serie", "Stagione", "Provincia", "Comune", "Regione", "Basilica", "Villa",
};
static const char *const w_es[] = {
    "Iglesia", "de", "del", "la", "San", "Santa", "Castillo", "Palacio", "Estación", "Río",
    "Monte", "Lago", "Isla", "Puente", "Calle", "Plaza", "Batalla", "Historia", "Museo", "Teatro",
    "Universidad", "Elecciones", "Partido", "Campeonato", "Copa", "España", "México", "Argentina",
    "Colombia", "Chile", "Perú", "Madrid", "Barcelona", "Sevilla", "Bogotá", "Temporadas",
    "Club", "Deportivo", "Provincia", "Municipio", "Región", "Catedral", "Canción", "Álbum",
};
static const char *const w_pl[] = {
    "Kościół", "Zamek", "Pałac", "Dworzec", "Rzeka", "Góra", "Jezioro", "Wyspa", "Most", "Ulica",
    "Plac", "Bitwa", "Historia", "Muzeum", "Teatr", "Uniwersytet", "Wybory", "Partia",
    "Mistrzostwa", "Puchar", "Polska", "Warszawa", "Kraków", "Łódź", "Wrocław", "Gdańsk", "Poznań",
    "Szczecin", "województwo", "gmina", "powiat", "Święty", "Nowy", "Stary", "Wielki", "Mały",
};
/* Words from a handful of European languages for the smaller Latin-script wikis. */
static const char *const w_eu[] = {
    "Kerk", "Station", "Rivier", "Kasteel", "Igreja", "Estação", "Rio", "Castelo", "Kyrka",
    "Slott", "Sjö", "Kirkko", "Järvi", "Joki", "Kostel", "Zámek", "Řeka", "Templom", "Vár",
    "Folyó", "Kilise", "Nehir", "Köprü", "Església", "Castell", "Riu", "Kirke", "Elv", "Biserica",
    "Râul", "Igrexa", "Kirik", "Jõgi", "Crkva", "Rijeka", "Bažnyčia", "Upė", "Eliza", "Ibaia",
    "Gereja", "Sungai", "Masjid", "Preĝejo", "Rivero", "Ecclesia", "Flumen", "São", "Santa",
    "Nova", "Stará", "Nagy", "Büyük", "Gamla", "Nieuwe", "Sankt", "Santo", "Vila", "Grad",
};
static const char *const w_cyr[] = {
    "Список", "история", "город", "река", "озеро", "гора", "остров", "улица", "площадь",
    "церковь", "собор", "монастырь", "станция", "вокзал", "мост", "битва", "война", "выборы",
    "партия", "чемпионат", "кубок", "Россия", "Москва", "Санкт-Петербург", "Киев", "Донецк",
    "Минск", "Казань", "Новосибирск", "футбольный", "клуб", "сезон", "Шахтёр", "область",
    "район", "округ", "губерния", "университет", "театр", "музей", "Иван", "Пётр", "Александр",
    "Мария", "Ольга", "Сергей", "Владимир", "Николай", "великий", "новый", "старый", "северный",
};
static const char *const w_zh[] = {
    "中国", "北京", "上海", "台湾", "香港", "广州", "历史", "大学", "铁路", "车站", "机场",
    "公园", "河流", "山脉", "湖泊", "岛屿", "战役", "战争", "选举", "政党", "足球", "俱乐部",
    "赛季", "电影", "歌曲", "专辑", "电视剧", "公司", "博物馆", "寺庙", "皇帝", "王朝",
    "明朝", "清朝", "唐朝", "宋朝", "省", "市", "县", "区", "镇", "村", "列表", "人物",
};
static const char *const w_ja[] = {
    "東京", "大阪", "京都", "横浜", "名古屋", "札幌", "福岡", "日本", "歴史", "大学", "駅",
    "鉄道", "空港", "公園", "川", "山", "湖", "島", "戦い", "戦争", "選挙", "政党", "サッカー",
    "クラブ", "シーズン", "映画", "アニメ", "ゲーム", "アルバム", "シングル", "テレビ", "番組",
    "会社", "博物館", "神社", "寺", "城", "線", "都", "県", "市", "町", "村", "一覧", "ファイル",
};
static const char *const w_ko[] = {
    "서울", "부산", "인천", "대구", "광주", "대전", "한국", "역사", "대학교", "역", "철도",
    "공항", "공원", "강", "산", "호수", "섬", "전투", "전쟁", "선거", "정당", "축구", "구단",
    "시즌", "영화", "노래", "앨범", "드라마", "회사", "박물관", "사찰", "성", "고척동", "돔",
    "야구장", "도", "시", "군", "구", "동", "목록", "고등학교", "아이돌", "그룹",
};
static const char *const w_ar[] = {
    "قائمة", "تاريخ", "مدينة", "نهر", "بحيرة", "جبل", "جزيرة", "شارع", "ساحة", "مسجد",
    "كنيسة", "محطة", "جسر", "معركة", "حرب", "انتخابات", "حزب", "بطولة", "كأس", "مصر",
    "القاهرة", "بغداد", "دمشق", "الرياض", "بيروت", "تونس", "الجزائر", "المغرب", "نادي",
    "كرة", "القدم", "موسم", "جامعة", "متحف", "محمد", "أحمد", "علي", "حسن", "تهران", "ایران",
};
static const char *const w_vi[] = {
    "Việt Nam", "Hà Nội", "Thành phố", "Hồ Chí Minh", "Sông", "Núi", "Hồ", "Đảo", "Cầu",
    "Đường", "Chùa", "Đền", "Trường", "Đại học", "Lịch sử", "Chiến tranh", "Trận", "Bầu cử",
    "Đảng", "Bóng đá", "Câu lạc bộ", "Mùa giải", "Phim", "Bài hát", "tỉnh", "huyện", "xã",
};
static const char *const w_el[] = {
    "Ελλάδα", "Αθήνα", "Θεσσαλονίκη", "ιστορία", "πόλη", "ποταμός", "λίμνη", "όρος", "νησί",
    "εκκλησία", "μάχη", "πόλεμος", "εκλογές", "κόμμα", "ποδόσφαιρο", "σύλλογος", "πανεπιστήμιο",
};
static const char *const w_he[] = {
    "ישראל", "ירושלים", "תל אביב", "חיפה", "היסטוריה", "עיר", "נהר", "אגם", "הר", "אי",
    "בית כנסת", "קרב", "מלחמה", "בחירות", "מפלגה", "כדורגל", "מועדון", "אוניברסיטה",
};
static const char *const w_hi[] = {
    "भारत", "दिल्ली", "मुंबई", "इतिहास", "नगर", "नदी", "झील", "पर्वत", "द्वीप", "मंदिर",
    "युद्ध", "चुनाव", "दल", "क्रिकेट", "विश्वविद्यालय", "फ़िल्म", "गीत", "ज़िला",
};
static const char *const w_hy[] = {
    "Հայաստան", "Երևան", "Գյումրի", "պատմություն", "քաղաք", "գետ", "լիճ", "լեռ", "եկեղեցի",
    "վանք", "ճակատամարտ", "պատերազմ", "ընտրություններ", "կուսակցություն", "ֆուտբոլ",
};
/* Latin-looking syllables for species names and made-up user names. */
static const char *const w_syl[] = {
    "ar", "ca", "li", "do", "ste", "ra", "ni", "mo", "phy", "lo", "the", "cho", "rus", "ta",
    "ve", "mi", "sa", "po", "ly", "gon", "nia", "ter", "bu", "cal", "din", "er", "go", "hal",
    "ken", "lu", "mar", "nor", "pe", "que", "ri", "sol", "tor", "val", "wen", "xan", "zo", "an",
};
static const char *const w_genus_end[] = {"a", "us", "ia", "ella", "opsis", "odes", "ula", "ium"};
static const char *const w_species[] = {
    "melanocephala", "retrocarpa", "ecuadorensis", "yucatanensis", "lasiocaulos", "alba",
    "rubra", "nigra", "viridis", "major", "minor", "gracilis", "elegans", "japonica", "sinensis",
    "americana", "africana", "australis", "borealis", "orientalis", "occidentalis", "montana",
    "sylvestris", "aquatica", "vulgaris", "officinalis", "longifolia", "parviflora", "grandiflora",
    "brevicaudata", "maculata", "striata", "punctata", "hirsuta", "glabra", "spinosa",
};
static const char *const w_first[] = {
    "John", "Anna", "Peter", "Maria", "David", "Laura", "Michael", "Sarah", "Thomas", "Julia",
    "Mark", "Elena", "Paul", "Sofia", "James", "Clara", "Robert", "Nina", "Daniel", "Eva",
    "Lukas", "Marco", "Pierre", "Jan", "Carlos", "Hiro", "Minh", "Ahmed", "Ivan", "Olga",
};
static const char *const w_last[] = {
    "Smith", "Miller", "Brown", "Rossi", "Dubois", "Kowalski", "Novak", "Garcia", "Silva",
    "Jensen", "Schmidt", "Tanaka", "Nguyen", "Ivanov", "Haddad", "Cohen", "Papadopoulos",
    "Longstreet", "Whitfield", "Ashdown", "Holloway", "Pennington", "Quill",
};
static const char *const w_adj[] = {
    "Quixotic", "Curious", "Silent", "Wandering", "Cheerful", "Grumpy", "Patient", "Brave",
    "Hidden", "Lucky", "Rusty", "Golden", "Midnight", "Northern",
};
static const char *const w_noun[] = {
    "Potato", "Editor", "Owl", "Fox", "Librarian", "Pilgrim", "Gardener", "Scribe", "Walrus",
    "Lantern", "Badger", "Comet", "Pencil", "Archivist",
};
/* Native-script name syllables. */
static const char *const n_ko[] = {"김", "이", "박", "최", "정", "민", "수", "현", "태", "준",
                                   "지", "영", "호", "서", "아즈사", "봇"};
static const char *const n_ja[] = {"さくら", "たろう", "ゆき", "はな", "ひろ", "けん", "みどり",
                                   "山田", "田中", "鈴木", "佐藤", "高橋"};
static const char *const n_zh[] = {"王", "李", "张", "刘", "陈", "杨", "黄", "明", "华", "伟",
                                   "芳", "强", "龙", "云"};
static const char *const n_cyr[] = {"Алекс", "Серж", "Иван", "ов", "ский", "Марина", "Дим",
                                    "ич", "Оль", "га", "Вит", "Ник"};
static const char *const n_ar[] = {"محمد", "علي", "حسن", "أحمد", "عمر", "يوسف", "سارة", "ليلى"};
static const char *const n_el[] = {"Γιώργος", "Νίκος", "Μαρία", "Ελένη", "Κώστας", "ας", "ου"};
static const char *const n_he[] = {"דוד", "משה", "יוסי", "רחל", "שרה", "נועה"};

/* Section headings and edit summaries. */
static const char *const s_en[] = {
    "History", "Career", "Early life", "Personal life", "References", "External links",
    "Filmography", "Discography", "Background", "Reception", "Legacy", "Plot", "Cast",
    "Development", "Geography", "Demographics", "Status of peremptory norms under international law",
    "Successful escapes", "Cancer-related conditions", "Track listing", "See also",
};
static const char *const p_en[] = {
    "added project", "fixed spelling", "ce", "typo", "copyedit", "+cat", "added reference",
    "update", "updated statistics", "rm unsourced claim", "Undid revision $N by $U (talk)",
    "adding back map, per talk", "new play; ce", "expand", "clarify", "wikilink", "per talk page",
    "Reverted 2 edits by [[Special:Contributions/$U|$U]] ([[User talk:$U|talk]]). ([[WP:TW|TW]])",
    ("Reverting possible vandalism by [[Special:Contribs/$U|$U]] to version by $V. "
     "[[WP:CBFP|Report False Positive?]] Thanks, [[WP:CBNG|ClueBot NG]]. ($N) (Bot)"),
    "Copying assessment table to wiki", "New Message", "Moved $W to $W $W", "fixed infobox",
    "Added {{$W}} tag to article ([[WP:TW|TW]])", "reply", "comment", "fix link to [[$W $W]]",
    "removed duplicate", "Replaced content with '$W'", "tidy", "sp", "format", "sources",
};
static const char *const b_en[] = {
    "BOT: Updating [[WP:Article alerts|Article alert]] report: +1 GAN ([[$W $W]])",
    "clean up using [[Project:AWB|AWB]]", "Bot: Fixing [[WP:CHECKWIKI|CW]] errors",
    "Robot: Archiving $N threads from [[$W $W]]", "Bot: Updating statistics",
    "removing deleted category", "Tagging for [[WP:CSD|speedy deletion]]",
};
static const char *const p_de[] = {
    "Neuanlage", "Tippfehler", "Korrektur", "Kategorie ergänzt", "Link korrigiert",
    "durch BY-Quelle nochmal länger", "Änderungen von $U rückgängig gemacht", "proxy update",
    "Belege ergänzt", "erg.", "+ Bild", "typo", "Aktualisierung", "Formatierung",
};
static const char *const s_de[] = {"Einleitung", "Geschichte", "Leben", "Werk", "Literatur",
                                   "Weblinks", "Einzelnachweise", "Aktuelle Nutzung und Ausblick"};
static const char *const b_de[] = {"Bot: Aktualisiere Schwesterprojektlink",
                                   "Bot: Ergänze Normdaten", "Bot: Korrigiere Weiterleitung",
                                   "Bot: Vorlage ersetzt"};
static const char *const p_fr[] = {
    "Annulation de la modification de $U", "orthographe", "typo", "ajout de source",
    "mise à jour", "catégorisation", "lien interne", "précision", "Nouvelle page : « $W »",
    "Robot : Remplacement de texte automatisé", "retouches", "réponse", "+ ref",
};
static const char *const s_fr[] = {"Biographie", "Historique", "Carrière", "Références",
                                   "Liens externes", "Filmographie", "Géographie", "Le Bistro"};
static const char *const b_fr[] = {"Bot : Mise à jour des liens interlangues",
                                   "Robot : Remplacement de texte automatisé ($N)",
                                   "correction syntaxique (pas de ref. avant les signes de ponctuation)"};
static const char *const p_it[] = {
    "Annullate le modifiche di $U (discussione), riportata alla versione precedente di $V",
    "correzione", "refuso", "aggiunta fonte", "aggiornamento", "wikificato", "+ categoria",
    "sistemazione", "risposta", "nuova voce",
};
static const char *const s_it[] = {"Biografia", "Storia", "Carriera", "Note", "Collegamenti esterni",
                                   "Filmografia", "Sandbox"};
static const char *const b_it[] = {"[[Utente:$V#9|$V 9.11]]", "Bot: sostituzione template",
                                   "Bot: aggiornamento dati", "Bot: fix vari"};
static const char *const p_es[] = {
    "Revertidos los cambios de [[Special:Contributions/$U|$U]] a la última edición de $V",
    "corrección", "ortografía", "añadida referencia", "actualización", "enlace", "categoría",
    "ampliación", "respuesta", "formato",
};
static const char *const s_es[] = {"Biografía", "Historia", "Carrera", "Temporadas", "Referencias",
                                   "Enlaces externos", "Filmografía"};
static const char *const b_es[] = {"Bot: Arreglando referencias",
                                   ("Robot inserta {{Commonscat}} que enllaça amb "
                                    "[[commons:category:$W]]"),
                                   "Bot: actualizando plantilla"};
static const char *const p_ru[] = {
    "оформление", "исправление", "дополнение", "источники", "викификация", "орфография",
    "отклонено последнее изменение (с $U) на $V", "обновление данных", "категоризация",
    "стилевые правки", "ответ",
};
static const char *const s_ru[] = {"Основной состав", "История", "Биография", "Примечания",
                                   "Ссылки", "Литература", "Фильмография"};
static const char *const b_ru[] = {"Бот: обновление данных", "бот: исправление ссылок",
                                   "Робот: добавление категории"};
static const char *const p_ja[] = {"出典の追加", "誤字修正", "リンク修正", "加筆", "カテゴリ追加",
                                   "表記揺れ修正", "$U による版を取り消し", "更新", "返信"};
static const char *const s_ja[] = {"概要", "歴史", "経歴", "脚注", "外部リンク", "出演"};
static const char *const b_ja[] = {"Bot: カテゴリ変更", "bot: 解消済み仮リンク$Wを内部リンクに置き換えます"};
static const char *const p_zh[] = {"修正错别字", "增加来源", "更新", "内部链接", "分类", "回退$U的编辑",
                                   "扩充", "格式", "回复"};
static const char *const s_zh[] = {"历史", "生平", "参考文献", "外部链接", "关于模块", "作品"};
static const char *const b_zh[] = {"tagging {{t1|veil}} with the help of hide.exe by $V",
                                   "机器人：更新模板", "Bot: 修正消歧义链接"};
static const char *const p_ko[] = {"오타를 고침", "출처 추가", "내용 추가", "분류 추가", "링크 수정",
                                   "$U의 편집을 되돌림", "정리", "답변"};
static const char *const s_ko[] = {"역사", "생애", "각주", "외부 링크", "경력"};
static const char *const b_ko[] = {"봇: 분류 변경", "봇: 틀 정리", "로봇: 인터위키 수정"};
static const char *const p_ar[] = {"تدقيق إملائي", "إضافة مصدر", "تحديث", "تصنيف", "توسيع",
                                   "استرجاع تعديلات $U", "تنسيق"};
static const char *const s_ar[] = {"التاريخ", "السيرة", "المراجع", "وصلات خارجية"};
static const char *const b_ar[] = {"بوت [[مستخدم:$V/التصانیف المعادلة|التصانيف المعادلة ($N)]]",
                                   "بوت: تعريب"};
static const char *const p_vi[] = {"sửa lỗi chính tả", "thêm nguồn", "cập nhật", "thêm thể loại",
                                   "Fix lỗi ngày tháng", "mở rộng", "lùi sửa của $U"};
static const char *const b_vi[] = {
    "AlphamaEditor", "clean up using [[Project:AWB|AWB]]", "fix using [[Project:AWB|AWB]]",
    "fix Lỗi CS1: ngày tháng", "Fix lỗi ngày tháng using [[Project:AWB|AWB]]",
    "Lỗi CS1: ngày tháng", "Lỗi CS1: ngày tháng using [[Project:AWB|AWB]]",
    "Bot: sửa lỗi CS1 \"Kiểm tra giá trị ngày tháng\" + các sửa lỗi chung khác",
    "Bot: sửa lỗi chú thích CS1 \"Kiểm tra giá trị ngày tháng\" + các sửa lỗi chung khác",
};
static const char *const b_uz[] = {
    "clean up, replaced: ozbekcha → oʻzbekcha, olchami → oʻlchami ($N) using [[Project:AWB|AWB]]",
    "Bot: kategoriya qoʻshildi",
};
static const char *const p_pl[] = {"drobne redakcyjne", "poprawa linków", "źródła", "literówka",
                                   "aktualizacja", "kategoria", "Wycofano edycje $U"};
static const char *const b_pl[] = {"Bot: poprawa linków", "Robot dodaje kategorię"};
static const char *const b_el[] = {"Διόρθωση συντακτικών λαθών του κώδικα με τη χρήση "
                                   "[[Βικιπαίδεια:AutoWikiBrowser|AWB]] ($N)"};
static const char *const b_gen[] = {"Bot: interwiki", "Robot: Fixing double redirect",
                                    "clean up using [[Project:AWB|AWB]]", "Bot: $W"};
static const char *const emoji[] = {"😀", "👍", "🎉", "🙂", "❤️", "🤔", "🔥", "✅", "⚽", "🌍"};

/* Bot accounts (invented). */
static const char *const bots_en[] = {"ArticleAlertBot", "CleanupBot", "ArchiverBot", "StatsBot",
                                      "CategoryBot", "WP 1.0 bot", "ClueBot NG", "LinkFixBot"};
static const char *const bots_vi[] = {"MinhBot", "ThaoLongAWB", "VanAnh-Bot!", "HoangBot",
                                      "Sửa-lỗi-bot", "TungBot"};
static const char *const bots_uz[] = {"OzbekBot", "TashkentBot"};
static const char *const bots_de[] = {"SchwesterBot", "NormdatenBot", "KuebelBot", "FixBot"};
static const char *const bots_fr[] = {"OrlandoBot", "BibliothèqueBot", "LienBot"};
static const char *const bots_it[] = {"Biobot", "Bottuccio", "SistemaBot"};
static const char *const bots_es[] = {"PereBot", "AndalusBot", "RefBot"};
static const char *const bots_ru[] = {"ВикиБот", "AkelaBot", "ZkBot"};
static const char *const bots_zh[] = {"Antigng-bot", "机器人小明", "ZhBot"};
static const char *const bots_ja[] = {"Kbot", "JaBot"};
static const char *const bots_ko[] = {"아즈사봇", "Kobot", "새벽봇"};
static const char *const bots_gen[] = {"Xqbot", "Interwikibot", "Addbot", "EmausBot", "Cydebot"};

/* ---- namespaces -------------------------------------------------------- */

enum {
    NS_USER_TALK, NS_USER, NS_PROJECT, NS_TALK, NS_CATEGORY, NS_TEMPLATE, NS_DRAFT,
    NS_CATEGORY_TALK, NS_PROJECT_TALK, NS_FILE, NS__COUNT
};
/* Shares of non-Main edits, per mille (from #en.wikipedia). */
static const uint16_t ns_weight[NS__COUNT] = {280, 220, 170, 140, 50, 40, 30, 30, 20, 20};

static const char *const ns_en[NS__COUNT] = {"User talk", "User", "Wikipedia", "Talk", "Category",
                                             "Template", "Draft", "Category talk",
                                             "Wikipedia talk", "File"};
static const char *const ns_de[NS__COUNT] = {"Benutzer Diskussion", "Benutzer", "Wikipedia",
                                             "Diskussion", "Kategorie", "Vorlage", "Portal",
                                             "Kategorie Diskussion", "Wikipedia Diskussion", "Datei"};
static const char *const ns_fr[NS__COUNT] = {"Discussion utilisateur", "Utilisateur", "Wikipédia",
                                             "Discussion", "Catégorie", "Modèle", "Projet",
                                             "Discussion catégorie", "Discussion Wikipédia",
                                             "Fichier"};
static const char *const ns_it[NS__COUNT] = {"Discussioni utente", "Utente", "Wikipedia",
                                             "Discussione", "Categoria", "Template", "Portale",
                                             "Discussioni categoria", "Discussioni Wikipedia",
                                             "File"};
static const char *const ns_es[NS__COUNT] = {"Usuario discusión", "Usuario", "Wikipedia",
                                             "Discusión", "Categoría", "Plantilla", "Anexo",
                                             "Categoría discusión", "Wikipedia discusión",
                                             "Archivo"};
static const char *const ns_ru[NS__COUNT] = {"Обсуждение участника", "Участник", "Википедия",
                                             "Обсуждение", "Категория", "Шаблон", "Портал",
                                             "Обсуждение категории", "Обсуждение Википедии",
                                             "Файл"};
static const char *const ns_ja[NS__COUNT] = {"利用者‐会話", "利用者", "Wikipedia", "ノート",
                                             "Category", "Template", "Portal", "Category‐ノート",
                                             "Wikipedia‐ノート", "ファイル"};
static const char *const ns_pl[NS__COUNT] = {"Dyskusja wikipedysty", "Wikipedysta", "Wikipedia",
                                             "Dyskusja", "Kategoria", "Szablon", "Portal",
                                             "Dyskusja kategorii", "Dyskusja Wikipedii", "Plik"};
static const char *const ns_ko[NS__COUNT] = {"사용자토론", "사용자", "위키백과", "토론", "분류", "틀",
                                             "포털", "분류토론", "위키백과토론", "파일"};
static const char *const ns_ar[NS__COUNT] = {"نقاش المستخدم", "مستخدم", "ويكيبيديا", "نقاش",
                                             "تصنيف", "قالب", "بوابة", "نقاش التصنيف",
                                             "نقاش ويكيبيديا", "ملف"};
static const char *const ns_vi[NS__COUNT] = {"Thảo luận Thành viên", "Thành viên", "Wikipedia",
                                             "Thảo luận", "Thể loại", "Bản mẫu", "Cổng thông tin",
                                             "Thảo luận Thể loại", "Thảo luận Wikipedia",
                                             "Tập tin"};

/* ---- channels ---------------------------------------------------------- */

enum { TITLE_WORDS, TITLE_SPECIES, TITLE_CJK };

struct lang {
    const char *channel;
    uint32_t weight;        /* events per 100,000 */
    uint8_t robot;          /* % of edits by bots */
    uint8_t anon;           /* % of edits by anonymous (IPv4) editors */
    uint8_t unpat;          /* % unpatrolled */
    uint8_t newp;           /* % of human edits creating a page */
    uint8_t mainp;          /* % of edits in the Main namespace */
    uint8_t title_style;
    struct words title, names, phrases, sections, botsays, bots;
    const char *const *ns;
    const char *home;       /* ISO code of the usual country of its anonymous editors */
};

#define NOWORDS {NULL, 0}
#define L(ch, w, rob, an, un, nw, mn, st, t, nm, ph, se, bs, bo, ns, home)                     \
    {ch, w, rob, an, un, nw, mn, st, t, nm, ph, se, bs, bo, ns, home}

static const struct lang langs[] = {
    L("#en.wikipedia", 29429, 9, 13, 3, 7, 68, TITLE_WORDS, WORDS(w_en), NOWORDS, WORDS(p_en),
      WORDS(s_en), WORDS(b_en), WORDS(bots_en), ns_en, "US"),
    L("#vi.wikipedia", 24837, 99, 0, 36, 0, 100, TITLE_SPECIES, WORDS(w_vi), NOWORDS, WORDS(p_vi),
      WORDS(w_vi), WORDS(b_vi), WORDS(bots_vi), ns_vi, "VN"),
    L("#de.wikipedia", 6429, 20, 6, 1, 3, 70, TITLE_WORDS, WORDS(w_de), NOWORDS, WORDS(p_de),
      WORDS(s_de), WORDS(b_de), WORDS(bots_de), ns_de, "DE"),
    L("#fr.wikipedia", 5349, 11, 11, 19, 9, 69, TITLE_WORDS, WORDS(w_fr), NOWORDS, WORDS(p_fr),
      WORDS(s_fr), WORDS(b_fr), WORDS(bots_fr), ns_fr, "FR"),
    L("#ru.wikipedia", 3532, 10, 17, 0, 7, 76, TITLE_WORDS, WORDS(w_cyr), WORDS(n_cyr),
      WORDS(p_ru), WORDS(s_ru), WORDS(b_ru), WORDS(bots_ru), ns_ru, "RU"),
    L("#it.wikipedia", 3524, 37, 18, 32, 10, 76, TITLE_WORDS, WORDS(w_it), NOWORDS, WORDS(p_it),
      WORDS(s_it), WORDS(b_it), WORDS(bots_it), ns_it, "IT"),
    L("#es.wikipedia", 3200, 12, 30, 5, 7, 80, TITLE_WORDS, WORDS(w_es), NOWORDS, WORDS(p_es),
      WORDS(s_es), WORDS(b_es), WORDS(bots_es), ns_es, "MX"),
    L("#zh.wikipedia", 2869, 41, 15, 2, 10, 84, TITLE_CJK, WORDS(w_zh), WORDS(n_zh), WORDS(p_zh),
      WORDS(s_zh), WORDS(b_zh), WORDS(bots_zh), ns_en, "TW"),
    L("#uz.wikipedia", 2505, 100, 0, 0, 0, 100, TITLE_SPECIES, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_uz), WORDS(bots_uz), ns_en, "UZ"),
    L("#ja.wikipedia", 1909, 1, 23, 5, 6, 78, TITLE_CJK, WORDS(w_ja), WORDS(n_ja), WORDS(p_ja),
      WORDS(s_ja), WORDS(b_ja), WORDS(bots_ja), ns_ja, "JP"),
    L("#pl.wikipedia", 1440, 13, 11, 2, 5, 75, TITLE_WORDS, WORDS(w_pl), NOWORDS, WORDS(p_pl),
      WORDS(w_pl), WORDS(b_pl), WORDS(bots_gen), ns_pl, "PL"),
    L("#ko.wikipedia", 1358, 53, 21, 6, 7, 91, TITLE_WORDS, WORDS(w_ko), WORDS(n_ko), WORDS(p_ko),
      WORDS(s_ko), WORDS(b_ko), WORDS(bots_ko), ns_ko, "KR"),
    L("#ca.wikipedia", 1218, 30, 8, 5, 6, 85, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_es),
      WORDS(w_eu), WORDS(b_es), WORDS(bots_es), ns_en, "ES"),
    L("#pt.wikipedia", 1203, 15, 25, 20, 7, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_es),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "BR"),
    L("#nl.wikipedia", 1134, 20, 12, 10, 7, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "NL"),
    L("#ar.wikipedia", 1078, 30, 15, 10, 7, 80, TITLE_WORDS, WORDS(w_ar), WORDS(n_ar), WORDS(p_ar),
      WORDS(s_ar), WORDS(b_ar), WORDS(bots_gen), ns_ar, "EG"),
    L("#hu.wikipedia", 736, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "HU"),
    L("#uk.wikipedia", 670, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_cyr), WORDS(n_cyr),
      WORDS(p_ru), WORDS(s_ru), WORDS(b_ru), WORDS(bots_gen), ns_ru, "UA"),
    L("#el.wikipedia", 640, 25, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_el), WORDS(n_el), WORDS(p_en),
      WORDS(w_el), WORDS(b_el), WORDS(bots_gen), ns_en, "GR"),
    L("#he.wikipedia", 627, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_he), WORDS(n_he), WORDS(p_en),
      WORDS(w_he), WORDS(b_gen), WORDS(bots_gen), ns_en, "IL"),
    L("#sv.wikipedia", 622, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "SE"),
    L("#fi.wikipedia", 622, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "FI"),
    L("#cs.wikipedia", 566, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "CZ"),
    L("#fa.wikipedia", 558, 20, 15, 10, 7, 80, TITLE_WORDS, WORDS(w_ar), WORDS(n_ar), WORDS(p_ar),
      WORDS(s_ar), WORDS(b_gen), WORDS(bots_gen), ns_ar, "IR"),
    L("#tr.wikipedia", 530, 15, 12, 10, 7, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "TR"),
    L("#no.wikipedia", 431, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "NO"),
    L("#sr.wikipedia", 428, 30, 8, 10, 7, 85, TITLE_WORDS, WORDS(w_cyr), WORDS(n_cyr),
      WORDS(p_ru), WORDS(s_ru), WORDS(b_ru), WORDS(bots_gen), ns_ru, "RS"),
    L("#hy.wikipedia", 390, 30, 5, 10, 7, 85, TITLE_WORDS, WORDS(w_hy), NOWORDS, WORDS(p_en),
      WORDS(w_hy), WORDS(b_gen), WORDS(bots_gen), ns_en, "AM"),
    L("#id.wikipedia", 280, 15, 20, 10, 7, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "ID"),
    L("#da.wikipedia", 245, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "DK"),
    L("#ro.wikipedia", 194, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "RO"),
    L("#bg.wikipedia", 191, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_cyr), WORDS(n_cyr),
      WORDS(p_ru), WORDS(s_ru), WORDS(b_ru), WORDS(bots_gen), ns_ru, "BG"),
    L("#gl.wikipedia", 166, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_es),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "ES"),
    L("#ce.wikipedia", 153, 60, 2, 10, 2, 95, TITLE_WORDS, WORDS(w_cyr), WORDS(n_cyr),
      WORDS(p_ru), WORDS(s_ru), WORDS(b_ru), WORDS(bots_gen), ns_ru, "RU"),
    L("#et.wikipedia", 133, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "EE"),
    L("#simple.wikipedia", 99, 10, 15, 10, 7, 80, TITLE_WORDS, WORDS(w_en), NOWORDS, WORDS(p_en),
      WORDS(s_en), WORDS(b_en), WORDS(bots_en), ns_en, "US"),
    L("#sk.wikipedia", 84, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "SK"),
    L("#la.wikipedia", 84, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "IT"),
    L("#be.wikipedia", 84, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_cyr), WORDS(n_cyr),
      WORDS(p_ru), WORDS(s_ru), WORDS(b_ru), WORDS(bots_gen), ns_ru, "BY"),
    L("#nn.wikipedia", 66, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "NO"),
    L("#eo.wikipedia", 56, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, NULL),
    L("#hr.wikipedia", 56, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "HR"),
    L("#sl.wikipedia", 54, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "SI"),
    L("#lt.wikipedia", 51, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "LT"),
    L("#hi.wikipedia", 48, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_hi), NOWORDS, WORDS(p_en),
      WORDS(w_hi), WORDS(b_gen), WORDS(bots_gen), ns_en, "IN"),
    L("#sh.wikipedia", 36, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "RS"),
    L("#eu.wikipedia", 33, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_es),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "ES"),
    L("#ms.wikipedia", 28, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_eu), NOWORDS, WORDS(p_en),
      WORDS(w_eu), WORDS(b_gen), WORDS(bots_gen), ns_en, "MY"),
    L("#kk.wikipedia", 23, 15, 10, 10, 9, 80, TITLE_WORDS, WORDS(w_cyr), WORDS(n_cyr),
      WORDS(p_ru), WORDS(s_ru), WORDS(b_ru), WORDS(bots_gen), ns_ru, "KZ"),
};
#define NLANGS LS_ARRAY_LEN(langs)

/* ---- geography --------------------------------------------------------- */

struct city {
    const char *name;
    int16_t metro;          /* US DMA code, or -1 */
};
struct region {
    const char *iso, *name;
    const struct city *cities;
    uint8_t ncities;
};
struct country {
    const char *iso, *name;
    uint16_t weight;        /* share of anonymous edits, arbitrary units */
    const struct region *regions;
    uint8_t nregions;
};

#define CITIES(...) (const struct city[]){__VA_ARGS__}, (uint8_t)(sizeof((const struct city[]){__VA_ARGS__}) / sizeof(struct city))
#define REGIONS(...) (const struct region[]){__VA_ARGS__}, (uint8_t)(sizeof((const struct region[]){__VA_ARGS__}) / sizeof(struct region))

static const struct country countries[] = {
    {"US", "United States", 528,
     REGIONS({"CA", "California", CITIES({"Los Angeles", 803}, {"San Francisco", 807},
                                         {"Walnut Creek", 807}, {"San Jose", 807})},
             {"NY", "New York", CITIES({"New York", 501}, {"Brooklyn", 501}, {"Buffalo", 514})},
             {"TX", "Texas", CITIES({"Houston", 618}, {"Austin", 635}, {"Dallas", 623})},
             {"MI", "Michigan", CITIES({"Detroit", 505}, {"Hudsonville", 563})},
             {"IL", "Illinois", CITIES({"Chicago", 602})},
             {"WA", "Washington", CITIES({"Seattle", 819})},
             {"FL", "Florida", CITIES({"Miami", 528}, {"Orlando", 534})})},
    {"IT", "Italy", 256,
     REGIONS({"25", "Lombardy", CITIES({"Milan", -1}, {"Bergamo", -1})},
             {"62", "Latium", CITIES({"Rome", -1})},
             {"72", "Campania", CITIES({"Naples", -1})})},
    {"GB", "United Kingdom", 234,
     REGIONS({"ENG", "England", CITIES({"London", -1}, {"Manchester", -1}, {"Leeds", -1})},
             {"SCT", "Scotland", CITIES({"Glasgow", -1}, {"Edinburgh", -1})})},
    {"FR", "France", 205,
     REGIONS({"A8", "Île-de-France", CITIES({"Paris", -1}, {"Versailles", -1})},
             {"B9", "Rhône-Alpes", CITIES({"Lyon", -1}, {"Grenoble", -1})})},
    {"RU", "Russia", 194,
     REGIONS({"MOW", "Moscow", CITIES({"Moscow", -1})},
             {"SPE", "St.-Petersburg", CITIES({"Saint Petersburg", -1})},
             {"NVS", "Novosibirsk Oblast", CITIES({"Novosibirsk", -1})})},
    {"JP", "Japan", 171,
     REGIONS({"13", "Tokyo", CITIES({"Tokyo", -1}, {"Shinjuku", -1})},
             {"27", "Ōsaka", CITIES({"Osaka", -1})})},
    {"DE", "Germany", 162,
     REGIONS({"BE", "Land Berlin", CITIES({"Berlin", -1})},
             {"BY", "Bavaria", CITIES({"Munich", -1}, {"Nuremberg", -1})},
             {"ST", "Saxony-Anhalt", CITIES({"Wolfen", -1})})},
    {"BR", "Brazil", 136,
     REGIONS({"SP", "São Paulo", CITIES({"São Paulo", -1}, {"Campinas", -1})},
             {"RJ", "Rio de Janeiro", CITIES({"Rio de Janeiro", -1})})},
    {"IN", "India", 125,
     REGIONS({"KA", "Karnataka", CITIES({"Bangalore", -1})},
             {"MH", "Maharashtra", CITIES({"Mumbai", -1}, {"Pune", -1})})},
    {"KR", "Republic of Korea", 118,
     REGIONS({"11", "Seoul", CITIES({"Seoul", -1})},
             {"41", "Gyeonggi-do", CITIES({"Suwon", -1}, {"Seongnam-si", -1})})},
    {"CA", "Canada", 117,
     REGIONS({"ON", "Ontario", CITIES({"Toronto", -1}, {"Ottawa", -1})},
             {"QC", "Quebec", CITIES({"Montreal", -1})})},
    {"TW", "Taiwan", 94, REGIONS({"TPE", "Taipei City", CITIES({"Taipei", -1})})},
    {"ES", "Spain", 94,
     REGIONS({"MD", "Madrid", CITIES({"Madrid", -1})},
             {"CT", "Catalonia", CITIES({"Barcelona", -1})})},
    {"PH", "Philippines", 74, REGIONS({"00", "Metro Manila", CITIES({"Quezon City", -1})})},
    {"PL", "Poland", 70, REGIONS({"MZ", "Mazovia", CITIES({"Warsaw", -1})})},
    {"CO", "Colombia", 69, REGIONS({"DC", "Bogota D.C.", CITIES({"Bogotá", -1})})},
    {"AU", "Australia", 65,
     REGIONS({"NSW", "New South Wales", CITIES({"Sydney", -1}, {"Auburn", -1})},
             {"VIC", "Victoria", CITIES({"Melbourne", -1})})},
    {"HK", "Hong Kong", 61, REGIONS({"HCW", "Central and Western District", CITIES({"Central District", -1})})},
    {"MX", "Mexico", 60, REGIONS({"DIF", "Mexico City", CITIES({"Mexico City", -1})})},
    {"UA", "Ukraine", 56, REGIONS({"30", "Kyiv City", CITIES({"Kiev", -1})})},
    {"AR", "Argentina", 53, REGIONS({"C", "Buenos Aires F.D.", CITIES({"Buenos Aires", -1})})},
    {"IL", "Israel", 45, REGIONS({"TA", "Tel Aviv", CITIES({"Tel Aviv", -1})})},
    {"NL", "Netherlands", 43, REGIONS({"NH", "North Holland", CITIES({"Amsterdam", -1})})},
    {"CL", "Chile", 41, REGIONS({"RM", "Santiago Metropolitan", CITIES({"Santiago", -1})})},
    {"VN", "Vietnam", 40, REGIONS({"HN", "Hanoi", CITIES({"Hanoi", -1})}, {"SG", "Ho Chi Minh City", CITIES({"Ho Chi Minh City", -1})})},
    {"RS", "Serbia", 30, REGIONS({"00", "Central Serbia", CITIES({"Belgrade", -1})})},
    {"SE", "Sweden", 30, REGIONS({"AB", "Stockholm", CITIES({"Stockholm", -1})})},
    {"IR", "Iran", 28, REGIONS({"07", "Tehran", CITIES({"Tehran", -1})})},
    {"EG", "Egypt", 25, REGIONS({"C", "Cairo Governorate", CITIES({"Cairo", -1})})},
    {"GR", "Greece", 25, REGIONS({"I", "Attica", CITIES({"Athens", -1})})},
    {"TR", "Turkey", 25, REGIONS({"34", "Istanbul", CITIES({"Istanbul", -1})})},
    {"HU", "Hungary", 20, REGIONS({"BU", "Budapest", CITIES({"Budapest", -1})})},
    {"CZ", "Czech Republic", 20, REGIONS({"PR", "Hlavni mesto Praha", CITIES({"Prague", -1})})},
    {"FI", "Finland", 18, REGIONS({"18", "Uusimaa", CITIES({"Helsinki", -1})})},
    {"NO", "Norway", 15, REGIONS({"03", "Oslo County", CITIES({"Oslo", -1})})},
    {"DK", "Denmark", 12, REGIONS({"84", "Capital Region", CITIES({"Copenhagen", -1})})},
    {"ID", "Indonesia", 20, REGIONS({"JK", "Jakarta", CITIES({"Jakarta", -1})})},
    {"AM", "Armenia", 8, REGIONS({"ER", "Yerevan", CITIES({"Yerevan", -1})})},
    {"UZ", "Uzbekistan", 6, REGIONS({"TK", "Toshkent Shahri", CITIES({"Tashkent", -1})})},
    {"RO", "Romania", 10, REGIONS({"B", "Bucureşti", CITIES({"Bucharest", -1})})},
    {"BG", "Bulgaria", 8, REGIONS({"22", "Sofia-Capital", CITIES({"Sofia", -1})})},
    {"SK", "Slovakia", 6, REGIONS({"BL", "Bratislavský kraj", CITIES({"Bratislava", -1})})},
    {"HR", "Croatia", 6, REGIONS({"21", "City of Zagreb", CITIES({"Zagreb", -1})})},
    {"SI", "Slovenia", 4, REGIONS({"061", "Ljubljana", CITIES({"Ljubljana", -1})})},
    {"LT", "Republic of Lithuania", 4, REGIONS({"VL", "Vilnius County", CITIES({"Vilnius", -1})})},
    {"EE", "Estonia", 4, REGIONS({"37", "Harjumaa", CITIES({"Tallinn", -1})})},
    {"BY", "Belarus", 5, REGIONS({"HM", "Minsk City", CITIES({"Minsk", -1})})},
    {"KZ", "Kazakhstan", 5, REGIONS({"ALA", "Almaty", CITIES({"Almaty", -1})})},
    {"MY", "Malaysia", 10, REGIONS({"14", "Kuala Lumpur", CITIES({"Kuala Lumpur", -1})})},
};
#define NCOUNTRIES LS_ARRAY_LEN(countries)

/* ---- numbers ----------------------------------------------------------- */

/* Quantile tables: (cumulative probability per 10,000, value); sampled by
 * log-linear interpolation between points. */
struct qpoint {
    uint16_t p;
    uint32_t v;
};
static const struct qpoint q_added[] = {{0, 1}, {1000, 6}, {2500, 18}, {5000, 36}, {7500, 96},
                                        {9000, 549}, {9900, 5139}, {9990, 20000},
                                        {10000, 199818}};
static const struct qpoint q_added_new[] = {{0, 10}, {1000, 32}, {2500, 54}, {5000, 544},
                                            {7500, 1734}, {9000, 4564}, {9900, 18936},
                                            {10000, 199818}};
static const struct qpoint q_added_bot[] = {{0, 1}, {1000, 12}, {2500, 17}, {5000, 19},
                                            {7500, 36}, {9000, 41}, {9900, 3045}, {9990, 9000},
                                            {10000, 49061}};
static const struct qpoint q_deleted[] = {{0, 1}, {1000, 2}, {2500, 5}, {5000, 18}, {7500, 56},
                                          {9000, 182}, {9900, 445}, {10000, 500}};
// clang-format on

/* ---- the generator ----------------------------------------------------- */

struct zipf {
    double a, inv;
    uint32_t n;
};

struct wikigen {
    uint64_t s[4];             /* xoshiro256** state */
    uint32_t lang_cum[NLANGS]; /* cumulative channel weights */
    uint32_t country_cum[NCOUNTRIES];
    uint32_t ns_cum[NS__COUNT];
    struct zipf pages, pages_ns, users, ips, bots[8];
    int64_t cached_sec;
    char time_prefix[24]; /* "2015-09-12T00:46:58" for cached_sec */
};

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A stable hash of a few numbers: names and places depend only on these. */
static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t x = a * 0xff51afd7ed558ccdull ^ b;
    return splitmix(&x);
}

static inline uint64_t next64(struct wikigen *g)
{
    uint64_t *s = g->s;
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, n) for n < 2^32 (multiply-shift; bias below 2^-32). */
static inline uint32_t below(struct wikigen *g, uint32_t n)
{
    return (uint32_t)(((next64(g) >> 32) * n) >> 32);
}

static inline double unif(struct wikigen *g) { return (double)(next64(g) >> 11) * 0x1.0p-53; }

static inline bool chance(struct wikigen *g, uint32_t per_mille)
{
    return below(g, 1000) < per_mille;
}

/* Same as below() but from a hash value (stable choices). */
static inline uint32_t hpick(uint64_t *h, uint32_t n)
{
    uint64_t r = splitmix(h);
    return (uint32_t)(((r >> 32) * n) >> 32);
}

static void zipf_init(struct zipf *z, uint32_t n, double s)
{
    z->n = n;
    z->a = pow(n + 1.0, 1 - s) - 1;
    z->inv = 1 / (1 - s);
}

/* Rank in [0, n) with P(k) ~ (k+1)^-s: inverts the continuous power law. */
static uint32_t zipf_draw(struct wikigen *g, const struct zipf *z)
{
    double x = pow(1 + unif(g) * z->a, z->inv);
    uint32_t r = x >= (double)z->n + 1 ? z->n : (uint32_t)x;
    return r ? r - 1 : 0;
}

static uint32_t cum_pick(const uint32_t *cum, size_t n, uint32_t r)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cum[mid] > r)
            hi = mid;
        else
            lo = mid + 1;
    }
    return (uint32_t)lo;
}

static uint32_t quantile(struct wikigen *g, const struct qpoint *q, size_t n)
{
    double u = unif(g) * 10000;
    size_t i = 1;
    while (i < n - 1 && u > q[i].p)
        i++;
    double t = (u - q[i - 1].p) / (double)(q[i].p - q[i - 1].p);
    double lv = log((double)q[i - 1].v) + t * (log((double)q[i].v) - log((double)q[i - 1].v));
    double v = exp(lv);
    return v < 1 ? 1 : (uint32_t)v;
}

struct wikigen *wikigen_new(uint64_t seed)
{
    struct wikigen *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix(&x);
    uint32_t c = 0;
    for (size_t i = 0; i < NLANGS; i++)
        g->lang_cum[i] = c += langs[i].weight;
    c = 0;
    for (size_t i = 0; i < NCOUNTRIES; i++)
        g->country_cum[i] = c += countries[i].weight;
    c = 0;
    for (size_t i = 0; i < NS__COUNT; i++)
        g->ns_cum[i] = c += ns_weight[i];
    zipf_init(&g->pages, 2000000, 0.6);
    zipf_init(&g->pages_ns, 50000, 0.7);
    zipf_init(&g->users, 6000, 0.75);
    zipf_init(&g->ips, 5000000, 0.7);
    for (uint32_t i = 1; i < 8; i++)
        zipf_init(&g->bots[i], i, 1.2);
    g->cached_sec = INT64_MIN;
    return g;
}

void wikigen_free(struct wikigen *g) { free(g); }

/* ---- bounded line writer ----------------------------------------------- */

struct out {
    char *p, *end;
    bool full;
};

static inline void put(struct out *o, const char *s, size_t n)
{
    if ((size_t)(o->end - o->p) < n) {
        o->full = true;
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
}
#define PUTLIT(o, s) put(o, s, sizeof(s) - 1)
static inline void puts_(struct out *o, const char *s) { put(o, s, strlen(s)); }

static void put_int(struct out *o, int64_t v)
{
    char t[24];
    int i = 24;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        t[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        t[--i] = '-';
    put(o, t + i, (size_t)(24 - i));
}

static void put_bool(struct out *o, bool b)
{
    if (b)
        PUTLIT(o, "true");
    else
        PUTLIT(o, "false");
}

/* Writes s as a JSON string; ascii_only writes non-ASCII as \uXXXX escapes
 * (as an "ensure_ascii" producer would). Our strings are valid UTF-8. */
static void put_str(struct out *o, const char *s, size_t n, bool ascii_only)
{
    static const char hex[] = "0123456789abcdef";
    PUTLIT(o, "\"");
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || !ascii_only)) {
            i++;
            continue;
        }
        put(o, s + run, i - run);
        if (c < 0x80) {
            char e[6] = {'\\', (char)c, 0, 0, 0, 0};
            size_t el = 2;
            if (c == '\t')
                e[1] = 't';
            else if (c == '\n')
                e[1] = 'n';
            else if (c < 0x20) {
                e[1] = 'u';
                e[2] = '0';
                e[3] = '0';
                e[4] = hex[c >> 4];
                e[5] = hex[c & 15];
                el = 6;
            }
            put(o, e, el);
            i++;
        } else {
            uint32_t cp;
            size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (i + k > n)
                k = n - i; /* cannot happen with our own strings */
            cp = c & (k == 4 ? 0x07 : k == 3 ? 0x0F : 0x1F);
            for (size_t j = 1; j < k; j++)
                cp = (cp << 6) | ((unsigned char)s[i + j] & 0x3F);
            uint32_t units[2];
            int nu = 1;
            if (cp >= 0x10000) {
                units[0] = 0xD800 + ((cp - 0x10000) >> 10);
                units[1] = 0xDC00 + ((cp - 0x10000) & 0x3FF);
                nu = 2;
            } else {
                units[0] = cp;
            }
            for (int u = 0; u < nu; u++) {
                char e[6] = {'\\',
                             'u',
                             hex[(units[u] >> 12) & 15],
                             hex[(units[u] >> 8) & 15],
                             hex[(units[u] >> 4) & 15],
                             hex[units[u] & 15]};
                put(o, e, 6);
            }
            i += k;
        }
        run = i;
    }
    put(o, s + run, n - run);
    PUTLIT(o, "\"");
}

/* ---- text pieces -------------------------------------------------------- */

/* A small text builder for titles, names and comments. */
struct text {
    char b[768];
    size_t n;
};

static void tput(struct text *t, const char *s, size_t n)
{
    if (n > sizeof t->b - 1 - t->n)
        n = sizeof t->b - 1 - t->n;
    memcpy(t->b + t->n, s, n);
    t->n += n;
}
static void tputs(struct text *t, const char *s) { tput(t, s, strlen(s)); }
static void tputu(struct text *t, uint64_t v)
{
    char d[24];
    int i = 24;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    tput(t, d + i, (size_t)(24 - i));
}

/* Cuts to at most max bytes on a UTF-8 boundary (Wikipedia caps summaries). */
static void tcut(struct text *t, size_t max)
{
    if (t->n <= max)
        return;
    size_t n = max;
    while (n > 0 && ((unsigned char)t->b[n] & 0xC0) == 0x80)
        n--;
    t->n = n;
}

static const char *hword(const struct words *w, uint64_t *h) { return w->w[hpick(h, w->n)]; }
static const char *rword(struct wikigen *g, const struct words *w) { return w->w[below(g, w->n)]; }

static void ipv4_of(uint64_t rank, struct text *t)
{
    uint64_t h = mix(0x1F4, rank);
    uint32_t a;
    do
        a = 1 + hpick(&h, 223);
    while (a == 10 || a == 127);
    tputu(t, a);
    for (int i = 0; i < 3; i++) {
        tputs(t, ".");
        tputu(t, hpick(&h, 256));
    }
}

static void ipv6_of(uint64_t rank, struct text *t)
{
    static const char hex[] = "0123456789ABCDEF";
    uint64_t h = mix(0x6, rank);
    static const char *const pfx[] = {"2601", "2602", "2A02", "2001", "2003", "2605", "2A01"};
    tputs(t, pfx[hpick(&h, LS_ARRAY_LEN(pfx))]);
    for (int i = 0; i < 7; i++) {
        uint32_t v = hpick(&h, 65536);
        char grp[5];
        int n = 0;
        bool lead = true;
        for (int s = 12; s >= 0; s -= 4) {
            uint32_t d = (v >> s) & 15;
            if (lead && d == 0 && s)
                continue;
            lead = false;
            grp[n++] = hex[d];
        }
        tputs(t, ":");
        tput(t, grp, (size_t)n);
    }
}

/* A registered (human) user: a fixed function of channel and rank. */
static void human_name(const struct lang *l, size_t li, uint64_t rank, struct text *t)
{
    uint64_t h = mix(li + 1000, rank);
    if (l->names.n && hpick(&h, 10) < 4) {
        unsigned k = 2 + hpick(&h, 2);
        for (unsigned i = 0; i < k; i++)
            tputs(t, hword(&l->names, &h));
        if (hpick(&h, 4) == 0)
            tputu(t, hpick(&h, 100));
        return;
    }
    const struct words syl = WORDS(w_syl), first = WORDS(w_first), last = WORDS(w_last),
                       adj = WORDS(w_adj), noun = WORDS(w_noun);
    size_t s = t->n;
    switch (hpick(&h, 9)) {
    case 0:
    case 1:
        tputs(t, hword(&syl, &h));
        tputs(t, hword(&syl, &h));
        tputs(t, hword(&syl, &h));
        break;
    case 2:
        tputs(t, hword(&syl, &h));
        tputs(t, hword(&syl, &h));
        tputu(t, 1950 + hpick(&h, 66));
        break;
    case 3:
        tputs(t, hword(&first, &h));
        tputs(t, " ");
        tputs(t, hword(&last, &h));
        break;
    case 4:
        tputs(t, hword(&first, &h));
        tputs(t, hword(&last, &h));
        tputu(t, hpick(&h, 1000));
        break;
    case 5:
        tputs(t, hword(&syl, &h));
        tputs(t, hword(&syl, &h));
        tputs(t, "_");
        tputs(t, hword(&syl, &h));
        tputs(t, hword(&syl, &h));
        break;
    case 6:
        tputs(t, "The ");
        tputs(t, hword(&adj, &h));
        tputs(t, " ");
        tputs(t, hword(&noun, &h));
        break;
    case 7:
        tputs(t, hword(&first, &h));
        tputs(t, hword(&syl, &h));
        break;
    default:
        tputs(t, hword(&adj, &h));
        tputs(t, hword(&noun, &h));
        tputu(t, hpick(&h, 100));
        break;
    }
    /* capitalise an ASCII first letter */
    if (t->n > s && t->b[s] >= 'a' && t->b[s] <= 'z')
        t->b[s] = (char)(t->b[s] - 32);
}

static void bot_name(struct wikigen *g, const struct lang *l, struct text *t)
{
    uint32_t n = l->bots.n < 8 ? l->bots.n : 7;
    tputs(t, l->bots.w[zipf_draw(g, &g->bots[n])]);
}

/* A Main-namespace title: a fixed function of channel and rank. */
static void main_title(const struct lang *l, size_t li, uint64_t rank, struct text *t)
{
    uint64_t h = mix(li, rank);
    const struct words syl = WORDS(w_syl);
    if (l->title_style == TITLE_SPECIES && hpick(&h, 10) < 9) {
        size_t s = t->n;
        unsigned k = 1 + hpick(&h, 3);
        for (unsigned i = 0; i < k; i++)
            tputs(t, hword(&syl, &h));
        tputs(t, w_genus_end[hpick(&h, LS_ARRAY_LEN(w_genus_end))]);
        t->b[s] = (char)(t->b[s] - 32);
        tputs(t, " ");
        const struct words sp = WORDS(w_species);
        if (hpick(&h, 3) == 0) {
            tputs(t, hword(&syl, &h));
            tputs(t, hword(&syl, &h));
            tputs(t, "ensis");
        } else {
            tputs(t, hword(&sp, &h));
        }
        return;
    }
    const char *sep = l->title_style == TITLE_CJK ? "" : " ";
    /* one-word titles are few, and only among the popular pages */
    unsigned shape = hpick(&h, 12);
    unsigned k = (shape < 3 && rank < 300) ? 1 : shape < 8 ? 2 : shape < 11 ? 3 : 4;
    for (unsigned i = 0; i < k; i++) {
        if (i)
            tputs(t, sep);
        tputs(t, hword(&l->title, &h));
    }
    if (hpick(&h, 8) == 0) {
        tputs(t, " (");
        tputu(t, 1900 + hpick(&h, 116));
        tputs(t, ")");
    } else if (hpick(&h, 12) == 0) {
        tputs(t, " (");
        tputs(t, hword(&l->title, &h));
        tputs(t, ")");
    }
}

/* Expands a phrase template: $U an IP address, $V a user, $W a title word,
 * $N a number. */
static void expand(struct wikigen *g, const struct lang *l, size_t li, const char *tpl,
                   struct text *t)
{
    const char *p = tpl;
    while (*p) {
        const char *d = strchr(p, '$');
        if (!d) {
            tputs(t, p);
            return;
        }
        tput(t, p, (size_t)(d - p));
        switch (d[1]) {
        case 'U': ipv4_of(zipf_draw(g, &g->ips), t); break;
        case 'V': human_name(l, li, zipf_draw(g, &g->users), t); break;
        case 'W': tputs(t, rword(g, &l->title)); break;
        case 'N': tputu(t, 1 + below(g, chance(g, 500) ? 99 : 2999999)); break;
        default: tput(t, d, 2);
        }
        p = d + 2;
    }
}

static void comment(struct wikigen *g, const struct lang *l, size_t li, bool robot, struct text *t)
{
    if (robot) {
        /* bots repeat a few summaries: the first ones most */
        uint32_t n = l->botsays.n, i = below(g, n);
        if (chance(g, 500))
            i = below(g, i + 1);
        expand(g, l, li, l->botsays.w[i], t);
        return;
    }
    uint32_t r = below(g, 1000);
    if (r < 480) {
        tputs(t, "/* ");
        if (chance(g, 600))
            tputs(t, rword(g, &l->sections));
        else {
            tputs(t, rword(g, &l->title));
            tputs(t, " ");
            tputs(t, rword(g, &l->title));
        }
        tputs(t, " */");
        if (chance(g, 650)) {
            tputs(t, " ");
            expand(g, l, li, rword(g, &l->phrases), t);
        }
    } else if (r < 840) {
        expand(g, l, li, rword(g, &l->phrases), t);
        unsigned more = chance(g, 500) ? 1 + below(g, 3) : 0;
        for (unsigned i = 0; i < more; i++) {
            tputs(t, chance(g, 500) ? "; " : ", ");
            expand(g, l, li, rword(g, &l->phrases), t);
        }
    } else {
        /* a longer note that names pages */
        expand(g, l, li, rword(g, &l->phrases), t);
        tputs(t, " [[");
        tputs(t, rword(g, &l->title));
        tputs(t, " ");
        tputs(t, rword(g, &l->title));
        tputs(t, "]] → [[");
        tputs(t, rword(g, &l->title));
        tputs(t, "]], ");
        expand(g, l, li, rword(g, &l->phrases), t);
        tputs(t, " ");
        expand(g, l, li, rword(g, &l->phrases), t);
    }
    if (chance(g, 10)) {
        tputs(t, " \"");
        tputs(t, rword(g, &l->title));
        tputs(t, " ");
        tputs(t, rword(g, &l->title));
        tputs(t, "\"");
    }
    if (chance(g, 4)) {
        tputs(t, " ");
        tputs(t, emoji[below(g, LS_ARRAY_LEN(emoji))]);
    }
    if (chance(g, 1))
        tputs(t, " (see C:\\Temp\\notes.txt)");
}

/* ---- time ---------------------------------------------------------------- */

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

static void put_time(struct wikigen *g, struct out *o, int64_t ms)
{
    int64_t sec = ms / 1000, milli = ms % 1000;
    if (milli < 0) {
        milli += 1000;
        sec -= 1;
    }
    if (sec != g->cached_sec) {
        int64_t days = sec / 86400, rem = sec % 86400;
        if (rem < 0) {
            rem += 86400;
            days -= 1;
        }
        int64_t y;
        unsigned m, d;
        civil_from_days(days, &y, &m, &d);
        if (y < 0)
            y = 0;
        if (y > 9999)
            y = 9999;
        char *p = g->time_prefix;
        put2(p, (unsigned)(y / 100));
        put2(p + 2, (unsigned)(y % 100));
        p[4] = '-';
        put2(p + 5, m);
        p[7] = '-';
        put2(p + 8, d);
        p[10] = 'T';
        put2(p + 11, (unsigned)(rem / 3600));
        p[13] = ':';
        put2(p + 14, (unsigned)(rem / 60 % 60));
        p[16] = ':';
        put2(p + 17, (unsigned)(rem % 60));
        g->cached_sec = sec;
    }
    char t[26];
    t[0] = '"';
    memcpy(t + 1, g->time_prefix, 19);
    t[20] = '.';
    t[21] = (char)('0' + milli / 100);
    t[22] = (char)('0' + milli / 10 % 10);
    t[23] = (char)('0' + milli % 10);
    t[24] = 'Z';
    t[25] = '"';
    put(o, t, 26);
}

/* ---- one event ---------------------------------------------------------- */

size_t wikigen_next(struct wikigen *g, int64_t time_ms, struct buf *outbuf)
{
    char line[WIKIGEN_MAX_EVENT];
    struct out o = {line, line + sizeof line, false};
    size_t li = cum_pick(g->lang_cum, NLANGS, below(g, g->lang_cum[NLANGS - 1]));
    const struct lang *l = &langs[li];

    /* who */
    bool robot = below(g, 100) < l->robot;
    bool anon = false, ipv6 = false;
    if (!robot) {
        uint32_t anon_pm = l->robot < 100 ? (uint32_t)l->anon * 1000 / (100 - l->robot) : 0;
        uint32_t r = below(g, 1000);
        anon = r < anon_pm;
        ipv6 = !anon && r < anon_pm + 12; /* logged as a registered user, no geo */
    }
    struct text user = {.n = 0};
    uint64_t ip_rank = 0;
    if (robot)
        bot_name(g, l, &user);
    else if (anon) {
        ip_rank = zipf_draw(g, &g->ips);
        ipv4_of(ip_rank, &user);
    } else if (ipv6)
        ipv6_of(zipf_draw(g, &g->ips), &user);
    else
        human_name(l, li, zipf_draw(g, &g->users), &user);

    bool is_new = robot ? (l->robot < 90 && chance(g, 20)) : below(g, 100) < l->newp;
    bool minor = robot ? (l->robot == 100 || chance(g, 780)) : (!is_new && chance(g, 230));
    bool unpat = below(g, 100) < l->unpat || (anon && chance(g, 100));

    /* what */
    struct text page = {.n = 0};
    const char *ns = "Main";
    if (below(g, 100) >= l->mainp) {
        uint32_t k = cum_pick(g->ns_cum, NS__COUNT, below(g, g->ns_cum[NS__COUNT - 1]));
        ns = l->ns[k];
        tputs(&page, ns);
        tputs(&page, ":");
        uint32_t rank = zipf_draw(g, &g->pages_ns);
        if (k == NS_USER || k == NS_USER_TALK) {
            human_name(l, li, rank % 5000, &page);
            if (rank % 7 == 0)
                tputs(&page, "/Sandbox");
        } else {
            main_title(l, li, rank + 10000000u, &page);
        }
    } else {
        main_title(l, li, zipf_draw(g, &g->pages), &page);
    }
    tcut(&page, 255);

    struct text cm = {.n = 0};
    comment(g, l, li, robot, &cm);
    tcut(&cm, 255);
    bool ascii_only = chance(g, 10);

    /* how much */
    uint32_t added = 0, deleted = 0;
    uint32_t kind = below(g, 1000);
    if (is_new)
        added = quantile(g, q_added_new, LS_ARRAY_LEN(q_added_new));
    else if (kind < 66)
        ; /* a null edit or a move: nothing added or deleted */
    else if (kind < 66 + 176)
        deleted = quantile(g, q_deleted, LS_ARRAY_LEN(q_deleted));
    else
        added = quantile(g, robot ? q_added_bot : q_added,
                         robot ? LS_ARRAY_LEN(q_added_bot) : LS_ARRAY_LEN(q_added));

    /* where: only anonymous editors are located, from their address */
    const struct country *co = NULL;
    const struct region *rg = NULL;
    const struct city *ct = NULL;
    int metro = -1;
    if (anon) {
        uint64_t h = mix(0x9e0 + li, ip_rank);
        size_t ci = NCOUNTRIES;
        if (l->home && hpick(&h, 100) < 35)
            for (size_t i = 0; i < NCOUNTRIES; i++)
                if (strcmp(countries[i].iso, l->home) == 0)
                    ci = i;
        if (ci == NCOUNTRIES)
            ci = cum_pick(g->country_cum, NCOUNTRIES, hpick(&h, g->country_cum[NCOUNTRIES - 1]));
        co = &countries[ci];
        const struct region *r0 = &co->regions[hpick(&h, co->nregions)];
        const struct city *c0 = &r0->cities[hpick(&h, r0->ncities)];
        bool has_region = hpick(&h, 100) < 55;
        if (has_region)
            rg = r0;
        if (hpick(&h, 100) < (has_region ? 98u : 5u))
            ct = c0;
        if (c0->metro >= 0 && hpick(&h, 100) < 60)
            metro = c0->metro;
    }

    PUTLIT(&o, "{\"time\":");
    put_time(g, &o, time_ms);
    PUTLIT(&o, ",\"channel\":\"");
    puts_(&o, l->channel);
    PUTLIT(&o, "\",\"cityName\":");
    if (ct)
        put_str(&o, ct->name, strlen(ct->name), false);
    else
        PUTLIT(&o, "null");
    PUTLIT(&o, ",\"comment\":");
    put_str(&o, cm.b, cm.n, ascii_only);
    PUTLIT(&o, ",\"countryIsoCode\":");
    if (co) {
        PUTLIT(&o, "\"");
        puts_(&o, co->iso);
        PUTLIT(&o, "\",\"countryName\":");
        put_str(&o, co->name, strlen(co->name), false);
    } else {
        PUTLIT(&o, "null,\"countryName\":null");
    }
    PUTLIT(&o, ",\"isAnonymous\":");
    put_bool(&o, anon);
    PUTLIT(&o, ",\"isMinor\":");
    put_bool(&o, minor);
    PUTLIT(&o, ",\"isNew\":");
    put_bool(&o, is_new);
    PUTLIT(&o, ",\"isRobot\":");
    put_bool(&o, robot);
    PUTLIT(&o, ",\"isUnpatrolled\":");
    put_bool(&o, unpat);
    PUTLIT(&o, ",\"metroCode\":");
    if (metro >= 0)
        put_int(&o, metro);
    else
        PUTLIT(&o, "null");
    PUTLIT(&o, ",\"namespace\":");
    put_str(&o, ns, strlen(ns), false);
    PUTLIT(&o, ",\"page\":");
    put_str(&o, page.b, page.n, false);
    PUTLIT(&o, ",\"regionIsoCode\":");
    if (rg) {
        put_str(&o, rg->iso, strlen(rg->iso), false);
        PUTLIT(&o, ",\"regionName\":");
        put_str(&o, rg->name, strlen(rg->name), false);
    } else {
        PUTLIT(&o, "null,\"regionName\":null");
    }
    PUTLIT(&o, ",\"user\":");
    put_str(&o, user.b, user.n, false);
    PUTLIT(&o, ",\"delta\":");
    put_int(&o, (int64_t)added - (int64_t)deleted);
    PUTLIT(&o, ",\"added\":");
    put_int(&o, added);
    PUTLIT(&o, ",\"deleted\":");
    put_int(&o, deleted);
    PUTLIT(&o, "}");
    if (o.full)
        return 0; /* cannot happen: every piece above is bounded */
    size_t n = (size_t)(o.p - line);
    return buf_append(outbuf, line, n) ? n : 0;
}
