"""A synthetic KBI extract for demos and load tests: realistic-looking integrees, none of them real.

Pure and deterministic: the same ``(persons, seed, municipalities, today)`` gives the same rows, and
nothing here reads or writes files (the caller writes the CSV). Faker is only used once per process
to fill small name and street pools; each row is then drawn from those pools with one
``random.Random(seed)``, because calling Faker per row would be two orders of magnitude slower.

National numbers are built here, not by Faker, so that they encode the person's birth date and sex,
follow the 2000 check-digit rule and include bis numbers the way the national register does.
E-mail addresses only use the reserved ``example.*`` domains so a demo can never mail anyone.
"""

from __future__ import annotations

import random
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Generic, TypeVar

from exchange.kbi_extract import COLUMNS_BY_NAME
from exchange.recipients import Municipality

__all__ = ["Municipality", "generate_rows"]


T = TypeVar("T")


class _Weighted(Generic[T]):
    """A weighted choice costing one ``random()`` call; ``Random.choices`` is slower per call."""

    __slots__ = ("_cum", "_items", "_last", "_total")

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        items: list[T] = []
        cum: list[float] = []
        total = 0.0
        for item, weight in pairs:
            if weight < 0:
                raise ValueError("negative weight")
            total += weight
            items.append(item)
            cum.append(total)
        if not items or total <= 0:
            raise ValueError("nothing to choose from")
        self._items = tuple(items)
        self._cum = tuple(cum)
        self._total = total
        self._last = len(items) - 1

    def pick(self, rng: random.Random) -> T:
        # min() guards against rounding pushing random() * total onto the last bound.
        return self._items[min(bisect_right(self._cum, rng.random() * self._total), self._last)]

    @property
    def items(self) -> tuple[T, ...]:
        return self._items


def _w(spec: str) -> _Weighted[str]:
    """``"a:3 b:1 :2"`` -> weighted choice; an empty name means the value is unknown ('')."""
    pairs = []
    for part in spec.split():
        name, _, weight = part.rpartition(":")
        pairs.append((name, float(weight)))
    return _Weighted(pairs)


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


# --- Names ------------------------------------------------------------------------------------

# Faker's locales for these regions write Arabic, Cyrillic, Persian or Chinese script; the client
# store holds the romanised names of the residence documents, so these pools are hand-written.
_HAND_POOLS: dict[str, tuple[str, str, str]] = {
    "levant": (
        "Mohammed, Ahmad, Omar, Khaled, Mahmoud, Yousef, Ali, Hussein, Hassan, Ibrahim, Mustafa,"
        " Abdullah, Samer, Rami, Bashar, Fadi, Tarek, Ammar, Ziad, Walid, Karim, Nabil, Majd,"
        " Hamza, Anas, Bilal, Firas, Jamal, Saleh, Yasser, Abdulrahman, Mazen, Wael, Iyad, Hani,"
        " Osama, Qusay, Raed, Louay, Adnan, Haitham, Marwan, Nizar, Ghassan, Moaz, Obada, Hadi,"
        " Tamer, Zaid",
        "Fatima, Aisha, Mariam, Noor, Rania, Layla, Hala, Reem, Sara, Zainab, Amira, Lina, Dima,"
        " Rasha, Yasmin, Hiba, Nour, Salma, Huda, Ghada, Aya, Bushra, Maha, Suha, Rawan, Asmaa,"
        " Doaa, Heba, Lama, Manal, Nada, Rim, Samah, Shahd, Tasneem, Wafaa, Yara, Zeina, Alaa,"
        " Batoul",
        "Al-Hassan, Haddad, Khalil, Mansour, Nasser, Saleh, Hamdan, Darwish, Al-Ahmad, Al-Khatib,"
        " Kassem, Abboud, Haj Ali, Al-Masri, Al-Halabi, Shami, Youssef, Barakat, Aziz, Hamoud,"
        " Al-Jabouri, Al-Tamimi, Abu Khalil, Qasem, Sabbagh, Zaher, Othman, Jaber, Hussein,"
        " Ibrahim, Al-Obeidi, Al-Rubaie, Kurdi, Ismail, Suleiman, Awad, Issa, Odeh, Abu Zaid,"
        " Al-Hamwi, Al-Homsi, Sheikh Mohammed, Al-Douri, Al-Shammari, Al-Saadi, Nassar, Hijazi,"
        " Abu Hamad, Shaheen, Qaddoura",
    ),
    "maghreb": (
        "Mohamed, Youssef, Karim, Rachid, Mustapha, Said, Abdelkader, Hicham, Nordin, Mehdi,"
        " Bilal, Ayoub, Anouar, Hamza, Soufiane, Yassine, Driss, Jamal, Khalid, Redouane,"
        " Abdelilah, Younes, Zakaria, Ilias, Achraf, Tarik, Mounir, Brahim, Abdellah, Omar",
        "Fatima, Khadija, Naima, Samira, Hanane, Latifa, Malika, Nadia, Salma, Siham, Imane,"
        " Loubna, Meryem, Houda, Zineb, Soukaina, Karima, Hafida, Najat, Saida, Asmae, Ikram,"
        " Hajar, Ilham, Rachida, Fatiha, Nora, Sanae, Wafae, Chaimae",
        "El Amrani, Benali, Bouzid, El Idrissi, Alaoui, Bennani, El Khattabi, Ouali, Azzouzi,"
        " Haddouchi, El Moussaoui, Bouchta, Tahiri, Amrani, Chaoui, El Ouardi, Boukhari, Lahlou,"
        " Cherkaoui, Ziani, Aboutaleb, El Hajji, Bakkali, Mokhtari, Zerouali, Ait Ouali, El"
        " Yousfi, Bouazza, Akhrif, El Ghazouani, Boulaich, Ouazzani, Belhaj, El Fassi, Berrada,"
        " Hamdaoui, Kaddouri, Ben Said, Mansouri, Essaidi",
    ),
    "afghan": (
        "Ahmad, Mohammad, Abdul, Ali Reza, Sayed, Ghulam, Habibullah, Najibullah, Rahmatullah,"
        " Farid, Jawad, Hamid, Khalid, Mustafa, Nasir, Rahim, Sami, Wahid, Zabihullah, Samiullah,"
        " Noorullah, Mirwais, Shafiq, Bashir, Omid, Reza, Mehdi, Hamidullah, Zakir, Asadullah,"
        " Fawad, Masood, Navid, Rohullah, Sharif, Wali, Yama, Ajmal, Idrees, Karim",
        "Fatima, Zahra, Maryam, Shabnam, Parwana, Nazanin, Mursal, Laila, Freshta, Soraya,"
        " Khadija, Marzia, Nilofar, Roya, Sima, Tahmina, Zainab, Mahbooba, Homa, Shirin, Farzana,"
        " Hamida, Madina, Nasrin, Parisa, Rahima, Sadaf, Shakila, Zarghona, Gulalai",
        "Ahmadi, Rahimi, Hashimi, Sultani, Karimi, Noori, Amiri, Hakimi, Mohammadi, Hussaini,"
        " Rezaei, Hosseini, Sadat, Stanikzai, Popal, Safi, Wardak, Yousufzai, Azizi, Haidari,"
        " Jafari, Naziri, Mirzaei, Akbari, Ghafoori, Khan, Shinwari, Mohmand, Durrani, Barakzai,"
        " Nazari, Qaderi, Rasuli, Sharifi, Taheri, Wahidi, Zaheer, Samadi, Habibi, Nabizada",
    ),
    "persian": (
        "Ali, Reza, Mohammad, Hossein, Mehdi, Amir, Hamid, Saeed, Majid, Behnam, Babak, Arash,"
        " Dariush, Farhad, Kaveh, Omid, Pouya, Siavash, Navid, Peyman",
        "Maryam, Zahra, Fatemeh, Sara, Nazanin, Parisa, Shirin, Leila, Mahsa, Niloofar, Roya,"
        " Samira, Azadeh, Elham, Golnaz, Mina, Neda, Shabnam, Taraneh, Yasaman",
        "Ahmadi, Hosseini, Mohammadi, Rezaei, Moradi, Karimi, Jafari, Rahimi, Kazemi, Ghasemi,"
        " Sadeghi, Heidari, Mousavi, Ebrahimi, Hashemi, Shirazi, Tehrani, Najafi, Azari, Farahani",
    ),
    "ukrainian": (
        "Oleksandr, Andriy, Serhiy, Volodymyr, Dmytro, Mykola, Ivan, Yuriy, Oleh, Vasyl, Petro,"
        " Bohdan, Taras, Maksym, Artem, Denys, Vitaliy, Roman, Ihor, Pavlo, Mykhailo, Yaroslav,"
        " Anatoliy, Viktor, Ruslan, Vladyslav, Oleksiy, Stepan, Yevhen, Kostiantyn",
        "Olena, Iryna, Nataliia, Oksana, Tetiana, Svitlana, Yuliia, Kateryna, Anastasiia, Mariia,"
        " Halyna, Liudmyla, Viktoriia, Alina, Daria, Sofiia, Anna, Olha, Khrystyna, Larysa,"
        " Valentyna, Inna, Nadiia, Vira, Yana, Ivanna, Solomiia, Oleksandra, Marharyta, Zoriana",
        "Shevchenko, Kovalenko, Bondarenko, Tkachenko, Kravchenko, Melnyk, Boyko, Kovalchuk,"
        " Oliynyk, Shevchuk, Polishchuk, Lysenko, Marchenko, Savchenko, Rudenko, Moroz, Petrenko,"
        " Tkachuk, Hnatiuk, Ivanenko, Kuzmenko, Pavlenko, Kharchenko, Karpenko, Levchenko,"
        " Savchuk, Romaniuk, Kravchuk, Fedorenko, Hrytsenko, Yakovenko, Sydorenko, Zinchenko,"
        " Vasylenko, Ponomarenko, Klymenko, Honcharuk, Didenko, Mazur, Prykhodko",
    ),
    "russian": (
        "Aleksandr, Dmitry, Sergei, Andrei, Alexei, Maxim, Ivan, Mikhail, Nikolai, Vladimir,"
        " Pavel, Artyom, Yevgeny, Igor, Oleg, Roman, Kirill, Anton, Denis, Konstantin, Ruslan,"
        " Magomed",
        "Anna, Elena, Olga, Tatiana, Natalia, Irina, Svetlana, Maria, Ekaterina, Yulia,"
        " Anastasia, Marina, Daria, Ksenia, Polina, Alina, Viktoria, Galina, Lyudmila, Vera,"
        " Madina, Zarema",
        "Ivanov, Smirnov, Kuznetsov, Popov, Sokolov, Lebedev, Kozlov, Novikov, Morozov, Petrov,"
        " Volkov, Solovyov, Vasiliev, Zaitsev, Pavlov, Semyonov, Golubev, Vinogradov, Bogdanov,"
        " Vorobyov, Fyodorov, Mikhailov, Belyaev, Tarasov, Orlov, Kiselev, Makarov, Andreev,"
        " Kadyrov, Umarov",
    ),
    "bulgarian": (
        "Georgi, Ivan, Dimitar, Nikolay, Petar, Hristo, Stoyan, Todor, Vasil, Aleksandar, Stefan,"
        " Kaloyan, Martin, Plamen, Krasimir, Yordan, Angel, Boris, Emil, Radoslav",
        "Maria, Elena, Ivanka, Desislava, Gergana, Tsvetelina, Yordanka, Petya, Radka, Silviya,"
        " Teodora, Violeta, Kremena, Mariya, Nadezhda, Daniela, Borislava, Galina, Rositsa,"
        " Stanislava",
        "Ivanov, Petrov, Georgiev, Dimitrov, Nikolov, Stoyanov, Todorov, Kolev, Hristov, Angelov,"
        " Iliev, Marinov, Yordanov, Atanasov, Popov, Vasilev, Petkov, Mihaylov, Kostov, Stefanov",
    ),
    "horn": (
        "Yonas, Dawit, Samuel, Tesfay, Habtom, Mehari, Kidane, Berhane, Filmon, Yohannes, Henok,"
        " Michael, Natnael, Abraham, Senay, Tekle, Amanuel, Mussie, Robel, Biniam, Daniel, Efrem,"
        " Goitom, Isaac, Kibrom, Merhawi, Nahom, Okbay, Simon, Teklit",
        "Senait, Helen, Selam, Rahwa, Luwam, Saba, Winta, Feven, Eden, Hiwet, Ruta, Mebrat,"
        " Tsega, Abeba, Yordanos, Semhar, Meron, Hanna, Almaz, Elsa, Freweini, Lidya, Mahlet,"
        " Nebiat, Rigat, Selamawit, Tirhas, Yodit, Zewdi, Bethlehem",
        "Tesfay, Gebremedhin, Haile, Kidane, Berhe, Tekle, Ghebremariam, Abraha, Mehari,"
        " Woldemichael, Gebreyesus, Negash, Hagos, Tewolde, Asmerom, Habte, Yemane, Mebrahtu,"
        " Zerai, Kahsay, Ghirmay, Andemariam, Tesfamariam, Weldu, Ghebreab, Solomon, Kiflom,"
        " Okbazghi, Measho, Tsegay",
    ),
    "somali": (
        "Abdi, Abdirahman, Mohamed, Ahmed, Hassan, Ali, Omar, Abdullahi, Farah, Yusuf, Ismail,"
        " Mahad, Abdiaziz, Hamza, Liban, Mustafe, Guled, Bashir, Abdikarim, Abdiwali, Said,"
        " Hussein, Osman, Jama, Khalid",
        "Hodan, Fadumo, Amina, Sahra, Hawa, Ayan, Ifrah, Nimco, Asha, Sagal, Hibaaq, Khadra,"
        " Deeqa, Faiza, Ubah, Ladan, Ruqiya, Maryan, Sucaad, Zamzam, Idil, Farhiya, Muna, Naima,"
        " Warda",
        "Mohamed, Ahmed, Hassan, Ali, Abdi, Warsame, Farah, Jama, Osman, Aden, Hussein, Nur,"
        " Omar, Ibrahim, Yusuf, Elmi, Dahir, Egal, Said, Abdullahi, Mohamud, Guled, Hirsi, Duale,"
        " Samatar, Gedi, Abdille, Isse, Barre, Hashi",
    ),
    "congolese": (
        "Jean-Pierre, Patrick, Joseph, Emmanuel, Christian, Didier, Fiston, Glody, Héritier,"
        " Junior, Papy, Trésor, Serge, Jonathan, Blaise, Cédric, Dieudonné, Israël, Merveil,"
        " Jean-Claude, Guy, Prince, Olivier, Arsène, Gloire",
        "Marie, Grâce, Chantal, Esther, Nadine, Sandra, Divine, Ruth, Bénédicte, Rebecca, Sarah,"
        " Jeanine, Clarisse, Falone, Mireille, Josiane, Nathalie, Deborah, Christelle, Plamedie,"
        " Dorcas, Naomie, Solange, Francine, Gisèle",
        "Mukendi, Kabongo, Ilunga, Tshibangu, Mbuyi, Kasongo, Mulumba, Lukusa, Ngalula, Kalonji,"
        " Banza, Mutombo, Nkulu, Makengo, Lumbala, Mpoyi, Tshimanga, Kanku, Mwamba, Bolingo,"
        " Mbala, Ntumba, Kazadi, Lutete, Nzuzi, Matondo, Mabiala, Kabeya, Tshilumba, Mayala",
    ),
    "guinean": (
        "Mamadou, Alpha, Ibrahima, Ousmane, Abdoulaye, Amadou, Boubacar, Mohamed, Sékou, Thierno,"
        " Alhassane, Souleymane, Lamine, Moussa, Oumar, Aboubacar, Mamadou Saliou, Elhadj, Fodé,"
        " Kabinet",
        "Fatoumata, Mariama, Aïssatou, Kadiatou, Hawa, Aminata, Oumou, Kadija, Binta, Djenabou,"
        " Fanta, Nènè, Mariam, Hadja, Ramatoulaye, Safiatou, M'Balia, Saran, Assiatou, Makalé",
        "Diallo, Barry, Bah, Sow, Camara, Condé, Keita, Touré, Sylla, Soumah, Baldé, Bangoura,"
        " Traoré, Cissé, Kouyaté, Diakité, Kaba, Sangaré, Fofana, Konaté",
    ),
    "pakistani": (
        "Muhammad, Ali, Usman, Bilal, Hamza, Imran, Asif, Faisal, Kashif, Tariq, Zeeshan, Waqas,"
        " Adnan, Shahid, Naveed, Irfan, Umar, Salman, Junaid, Fahad, Saad, Zubair, Arslan, Haris,"
        " Kamran",
        "Ayesha, Fatima, Sana, Hina, Zainab, Maryam, Amna, Saima, Nadia, Rabia, Samina, Asma,"
        " Sadia, Iqra, Mehwish, Noreen, Shazia, Uzma, Bushra, Farah, Kiran, Sidra, Hira, Aqsa,"
        " Nimra",
        "Khan, Ahmed, Malik, Hussain, Butt, Chaudhry, Qureshi, Sheikh, Raza, Iqbal, Akhtar,"
        " Javed, Shah, Siddiqui, Mirza, Bhatti, Awan, Abbasi, Rana, Anwar, Hashmi, Gill, Cheema,"
        " Baig, Aslam",
    ),
    "chinese": (
        "Wei, Jun, Hao, Lei, Yang, Jian, Tao, Ming, Peng, Bo, Chao, Xin, Yu, Zhiwei, Haoran,"
        " Zihan, Jie, Kai, Long, Qiang, Rui, Yifan, Zhen, Hui, Liang",
        "Li, Fang, Jing, Xiu, Mei, Yan, Hui, Ying, Lan, Xiaoling, Yuxin, Ting, Na, Min, Xue,"
        " Qian, Jia, Lina, Yue, Shu, Wen, Xiaomei, Yiting, Ruoxi, Zhen",
        "Wang, Li, Zhang, Liu, Chen, Yang, Huang, Zhao, Wu, Zhou, Xu, Sun, Ma, Zhu, Hu, Guo, He,"
        " Lin, Gao, Luo, Zheng, Liang, Xie, Song, Tang",
    ),
}

# Slavic family names take a feminine form; the hand pools list the masculine one.
_FEMININE_SURNAMES = frozenset({"russian", "bulgarian"})

# Faker locales that write Latin script; pools are filtered anyway because some Faker data is odd.
_FAKER_POOLS: dict[str, str] = {
    "turkish": "tr_TR",
    "indian": "en_IN",
    "brazilian": "pt_BR",
    "romanian": "ro_RO",
    "polish": "pl_PL",
    "dutch": "nl_NL",
    "italian": "it_IT",
    "spanish": "es_ES",
    "latin_american": "es_CO",
    "portuguese": "pt_PT",
    "french": "fr_FR",
    "nigerian": "yo_NG",
    "american": "en_US",
}

# Real, common Flemish street names: Faker's nl_BE streets are first name + suffix ("Wouterpad"),
# which alone looks fake to anyone who knows Flanders.
_COMMON_STREETS = _names(
    "Kerkstraat, Stationsstraat, Dorpsstraat, Molenstraat, Nieuwstraat, Kapelstraat, Schoolstraat,"
    " Beekstraat, Veldstraat, Hoogstraat, Kouter, Markt, Grote Markt, Bosstraat, Heirbaan,"
    " Kasteelstraat, Lindenlaan, Meersstraat, Nachtegaalstraat, Oude Baan, Pastoriestraat,"
    " Rozenstraat, Sint-Jansstraat, Sportlaan, Tramstraat, Vijverstraat, Weverstraat, Zandstraat,"
    " Brugstraat, Kloosterstraat, Koning Albertlaan, Leopoldlaan, Turnhoutsebaan, Kiel,"
    " Lange Kievitstraat, Dampoortstraat, Sleepstraat, Wondelgemstraat, Bredabaan, Diestsestraat,"
    " Tiensestraat, Naamsestraat, Gentsesteenweg, Brusselsesteenweg, Antwerpsesteenweg,"
    " Kortrijksesteenweg, Koningin Astridlaan, Boomsesteenweg, Statiestraat, Kruisstraat,"
    " Processiestraat, Ringlaan, Spoorweglaan, Industrieweg, Groenstraat, Keizerstraat,"
    " Vlasmarkt, Hoogweg, Heidestraat, Akkerstraat"
)

_POOL_SEED = 20240101  # Fixed: pools are shared by every run, so they cannot depend on the seed.
_POOL_SIZE = 250
_MAX_NAME = 23  # Two first names (or family names) joined by a space stay within 48 characters.


@dataclass(frozen=True, slots=True)
class _NamePool:
    male: tuple[str, ...]
    female: tuple[str, ...]
    last_male: tuple[str, ...]
    last_female: tuple[str, ...]


def _is_latin_name(name: str) -> bool:
    return 0 < len(name) <= _MAX_NAME and all(
        ch in " -'" or (ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN"))
        for ch in name
    )


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    # dict, not set: set order depends on PYTHONHASHSEED and would break determinism.
    return tuple(dict.fromkeys(n for n in names if _is_latin_name(n)))


def _feminine(surname: str) -> str:
    return surname + "a" if surname.endswith(("ov", "ev", "in", "yov")) else surname


@dataclass(frozen=True, slots=True)
class _Pools:
    names: dict[str, _NamePool]
    streets: tuple[str, ...]


@lru_cache(maxsize=1)
def _pools() -> _Pools:
    from faker import Faker  # Imported lazily: Faker takes a noticeable time to import.

    names: dict[str, _NamePool] = {}
    for key, (male, female, last) in _HAND_POOLS.items():
        last_names = _names(last)
        last_female = (
            tuple(_feminine(n) for n in last_names) if key in _FEMININE_SURNAMES else last_names
        )
        names[key] = _NamePool(_names(male), _names(female), last_names, last_female)
    for key, locale in _FAKER_POOLS.items():
        fake = Faker(locale)
        fake.seed_instance(_POOL_SEED)
        names[key] = _NamePool(
            _unique(fake.first_name_male() for _ in range(_POOL_SIZE)),
            _unique(fake.first_name_female() for _ in range(_POOL_SIZE)),
            _unique(fake.last_name_male() for _ in range(_POOL_SIZE)),
            _unique(fake.last_name_female() for _ in range(_POOL_SIZE)),
        )
    fake = Faker("nl_BE")
    fake.seed_instance(_POOL_SEED)
    faker_streets = tuple(
        dict.fromkeys(s for s in (fake.street_name() for _ in range(400)) if len(s) <= 60)
    )
    # Common real names three times over so they make up about 40% of the addresses.
    return _Pools(names, _COMMON_STREETS * 3 + faker_streets)


# --- Nationalities --------------------------------------------------------------------------

# Residence profile drives target group, residence status, education and living wage.
_EU, _UA, _REFUGEE, _MIGRANT = "eu", "ua", "refugee", "migrant"


@dataclass(frozen=True, slots=True)
class _Nationality:
    code: str
    names: str
    profile: str
    languages: _Weighted[str]


# Rough mix of newcomers in Flemish civic integration (AgII year reports): Syria, Afghanistan and
# Ukraine lead, followed by Morocco, Eritrea, Palestine and Turkey.
_NATIONALITIES: _Weighted[_Nationality] = _Weighted(
    (_Nationality(code, names, profile, _w(langs)), weight)
    for code, weight, names, profile, langs in (
        ("SY", 11, "levant", _REFUGEE, "ar:92 en:4 nl:2 :2"),
        ("AF", 9, "afghan", _REFUGEE, "ps:45 fa:44 en:7 :4"),
        ("UA", 9, "ukrainian", _UA, "uk:70 ru:17 en:10 :3"),
        ("MA", 7, "maghreb", _MIGRANT, "ar:55 fr:25 nl:15 :5"),
        ("TR", 5, "turkish", _MIGRANT, "tr:82 nl:10 en:5 :3"),
        ("ER", 5, "horn", _REFUGEE, "ti:88 ar:4 en:5 :3"),
        ("PS", 5, "levant", _REFUGEE, "ar:93 en:5 :2"),
        ("IQ", 3, "levant", _REFUGEE, "ar:85 ku:8 en:5 :2"),
        ("SO", 3, "somali", _REFUGEE, "so:85 en:8 ar:4 :3"),
        ("IN", 3, "indian", _MIGRANT, "en:85 hi:12 :3"),
        ("CD", 3, "congolese", _REFUGEE, "fr:88 ln:8 :4"),
        ("RO", 3, "romanian", _EU, "ro:62 en:30 :8"),
        ("BR", 3, "brazilian", _MIGRANT, "pt:85 en:10 :5"),
        ("PL", 2, "polish", _EU, "pl:60 en:32 :8"),
        ("NL", 2, "dutch", _EU, "nl:95 :5"),
        ("PK", 2, "pakistani", _MIGRANT, "ur:45 en:50 :5"),
        ("RU", 2, "russian", _REFUGEE, "ru:88 en:8 :4"),
        ("GN", 2, "guinean", _REFUGEE, "fr:85 ff:10 :5"),
        ("IR", 2, "persian", _REFUGEE, "fa:80 en:17 :3"),
        ("CN", 1.5, "chinese", _MIGRANT, "zh:60 en:35 :5"),
        ("NG", 1.5, "nigerian", _MIGRANT, "en:95 :5"),
        ("ES", 1.5, "spanish", _EU, "es:85 en:10 :5"),
        ("IT", 1.5, "italian", _EU, "it:80 en:10 fr:5 :5"),
        ("CO", 1, "latin_american", _MIGRANT, "es:95 :5"),
        ("VE", 1, "latin_american", _REFUGEE, "es:95 :5"),
        ("ET", 1, "horn", _REFUGEE, "am:65 en:30 :5"),
        ("BG", 1, "bulgarian", _EU, "bg:60 tr:15 en:20 :5"),
        ("DZ", 1, "maghreb", _MIGRANT, "ar:55 fr:40 :5"),
        ("TN", 0.5, "maghreb", _MIGRANT, "ar:50 fr:45 :5"),
        ("PT", 0.5, "portuguese", _EU, "pt:90 :10"),
        ("FR", 0.5, "french", _EU, "fr:95 :5"),
        ("US", 0.5, "american", _MIGRANT, "en:97 :3"),
    )
)

# EU citizens and Ukrainians under temporary protection are never obliged, only entitled; the
# other weights are set so the whole population lands near 55% obliged, 35% entitled, 10% none.
_TARGET_GROUP = {
    _EU: _w("entitled:75 none:25"),
    _UA: _w("entitled:90 none:10"),
    _REFUGEE: _w("obliged:79 entitled:14 none:7"),
    _MIGRANT: _w("obliged:73 entitled:18 none:9"),
}
_RESIDENCE = {
    _EU: _w("eu_citizen:94 other:3 :3"),
    _UA: _w("other:85 family_reunification:4 labour_migrant:4 student:3 :4"),
    _REFUGEE: _w(
        "recognised_refugee:50 subsidiary_protection:15 family_reunification:27 other:4 :4"
    ),
    _MIGRANT: _w("family_reunification:52 labour_migrant:22 student:10 other:11 :5"),
}
_EDUCATION = {
    _EU: _w("low:15 medium:35 high:35 :15"),
    _UA: _w("low:8 medium:35 high:47 :10"),
    _REFUGEE: _w("low:40 medium:30 high:15 :15"),
    _MIGRANT: _w("low:28 medium:30 high:27 :15"),
}
_LIVING_WAGE = {
    _EU: _w("true:5 false:60 :35"),
    _UA: _w("true:25 false:50 :25"),
    _REFUGEE: _w("true:35 false:40 :25"),
    _MIGRANT: _w("true:10 false:60 :30"),
}

_CONTRACT_SHARE = {"obliged": 0.70, "entitled": 0.45}
_SEX = _w("M:49.9 F:49.9 X:0.2")
_NT2_WITH_CONTRACT = _w("A1:25 A2:35 B1:25 B2:8 C1:2 :5")
_NT2_CERTIFIED = _w("A2:50 B1:35 B2:12 C1:3")  # The certificate requires at least A2.
_NT2_WITHOUT_CONTRACT = _w("A1:8 A2:8 B1:3 :81")
_CIVIC_CERTIFIED = _w("completed:92 exempt:8")
_CIVIC_WITH_CONTRACT = _w("not_started:20 in_progress:40 completed:35 exempt:5")
_CIVIC_WITHOUT_CONTRACT = _w("not_started:30 :70")
_PILOT_CONSENT = _w("true:10 false:60 :30")
_CAREER_DECISION = _w("work:45 training:20 education:10 not_applicable:25")
_CAREER_REASON = {
    "work": _w("employed:40 language_first:40 other:20"),
    "training": _w("language_first:70 other:30"),
    "education": _w("in_education:85 other:15"),
    "not_applicable": _w("health:30 care_duties:35 employed:20 other:15"),
}
_LEARNING_ABILITY = _w("slow:25 average:50 fast:25")
_DIPLOMA_REFERRAL = {
    "high": _w("true:35 false:45 :20"),
    "medium": _w("true:10 false:60 :30"),
    "low": _w("false:30 :70"),
    "": _w("false:30 :70"),
}
_DIPLOMA_RESULT = _w("recognised:35 partially_recognised:25 refused:15 pending:25")
_EMAIL_DOMAIN = _w("example.org:50 example.com:35 example.net:15")


def _check_enums() -> None:
    """Fail at import, not in a demo, when a table drifts from the extract's enum values."""
    checks: list[tuple[str, Iterable[_Weighted[str]]]] = [
        ("sex", [_SEX]),
        ("target_group", _TARGET_GROUP.values()),
        ("residence_status", _RESIDENCE.values()),
        ("education_level", _EDUCATION.values()),
        ("nt2_level", [_NT2_WITH_CONTRACT, _NT2_CERTIFIED, _NT2_WITHOUT_CONTRACT]),
        (
            "civic_orientation_status",
            [_CIVIC_CERTIFIED, _CIVIC_WITH_CONTRACT, _CIVIC_WITHOUT_CONTRACT],
        ),
        ("career_orientation_decision", [_CAREER_DECISION]),
        ("career_orientation_reason", _CAREER_REASON.values()),
        ("language_learning_ability", [_LEARNING_ABILITY]),
        ("diploma_recognition_result", [_DIPLOMA_RESULT]),
    ]
    for column, tables in checks:
        allowed = set(COLUMNS_BY_NAME[column].values) | {""}
        for table in tables:
            unknown = set(table.items) - allowed
            if unknown:
                raise AssertionError(f"{column}: not in the extract's values: {sorted(unknown)}")


_check_enums()


# --- Places ---------------------------------------------------------------------------------

_ANTWERPEN, _GENT = "11002", "44021"
_CENTRUMSTEDEN = (
    "31005", "24062", "12025", "41002", "34022", "71072", "46021", "35013", "71016", "36015",
    "13040",
)  # fmt: skip
# Percent of the integrees living in each big city; everything else is spread over the rest.
_CITY_SHARES: dict[str, float] = {_ANTWERPEN: 15.0, _GENT: 5.0} | dict.fromkeys(_CENTRUMSTEDEN, 1.5)
_CITY_POSTAL_CODES: dict[str, tuple[str, ...]] = {
    _ANTWERPEN: _names(
        "2000, 2018, 2018, 2020, 2030, 2040, 2050, 2060, 2060, 2100, 2140, 2170, 2180, 2600, 2610,"
        " 2660"
    ),
    _GENT: _names("9000, 9000, 9030, 9031, 9032, 9040, 9041, 9042, 9050, 9051, 9052"),
    "31005": _names("8000, 8200, 8310, 8380"),
    "24062": _names("3000, 3001, 3010, 3012, 3018"),
    "12025": _names("2800, 2801, 2811, 2812"),
    "41002": _names("9300, 9308, 9310, 9320"),
    "34022": _names("8500, 8501, 8510, 8511"),
    "71072": _names("3500, 3501, 3510, 3511, 3512"),
    "46021": _names("9100, 9111, 9112"),
    "35013": _names("8400"),
    "71016": _names("3600"),
    "36015": _names("8800"),
    "13040": _names("2300"),
}
# (KBI region, postal code ranges) per province.
_PROVINCES: dict[str, tuple[str, tuple[tuple[int, int], ...]]] = {
    "antwerpen": ("antwerpen", ((2000, 2999),)),
    "limburg": ("limburg", ((3500, 3999),)),
    "oost-vlaanderen": ("oost_vlaanderen", ((9000, 9999),)),
    "vlaams-brabant": ("vlaams_brabant", ((1500, 1999), (3000, 3499))),
    "west-vlaanderen": ("west_vlaanderen", ((8000, 8999),)),
}
_BRUSSELS = ("brussel", ((1000, 1210),))
_UNKNOWN_PROVINCE = ("", ((1500, 3999), (8000, 9999)))


@dataclass(frozen=True, slots=True)
class _Place:
    nis_code: str
    city: str
    kbi_region: str
    postal_codes: tuple[str, ...]


def _province(province_nl: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    key = province_nl.strip().lower()
    if key.startswith(("brussel", "bruxelles")):
        return _BRUSSELS
    return _PROVINCES.get(key, _UNKNOWN_PROVINCE)


def _place(m: Municipality) -> _Place:
    region, ranges = _province(m.province_nl)
    if m.nis_code == _ANTWERPEN:
        region = "antwerpen_stad"
    elif m.nis_code == _GENT:
        region = "gent_stad"
    codes = _CITY_POSTAL_CODES.get(m.nis_code)
    if codes is None:
        # Seeded by the NIS code so a municipality keeps its postal codes across runs and seeds.
        r = random.Random(f"kbx-demo-postal:{m.nis_code}")
        low, high = r.choice(ranges)
        base = low + 10 * r.randrange((high - low) // 10 + 1)
        codes = (str(base),) * 3 + tuple(str(base + r.randint(1, 9)) for _ in range(r.randrange(3)))
    return _Place(m.nis_code, m.name_nl, region, codes)


def _places(municipalities: Sequence[Municipality]) -> _Weighted[_Place]:
    unique: list[Municipality] = []
    seen: set[str] = set()
    for m in municipalities:
        if m.nis_code not in seen:
            seen.add(m.nis_code)
            unique.append(m)
    if not unique:
        raise ValueError("municipalities must not be empty")
    fixed = {m.nis_code: _CITY_SHARES[m.nis_code] for m in unique if m.nis_code in _CITY_SHARES}
    others = [m for m in unique if m.nis_code not in fixed]
    # Some variation between the smaller municipalities, stable per NIS code.
    spread = [random.Random(f"kbx-demo-weight:{m.nis_code}").uniform(0.4, 1.6) for m in others]
    rest = max(100.0 - sum(fixed.values()), 0.0)
    weights = {m.nis_code: rest * s / sum(spread) for m, s in zip(others, spread, strict=True)}
    weights |= fixed
    return _Weighted((_place(m), weights[m.nis_code]) for m in unique)


# --- Dates and numbers ----------------------------------------------------------------------

_REGISTRATION_START = date(2015, 1, 1).toordinal()
_UKRAINE_START = date(2022, 3, 1).toordinal()  # Temporary protection for Ukrainians began.
_VDAB_START = date(2022, 3, 1).toordinal()  # Referrals to VDAB from the agencies began.


def _years_after(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February in a common year: the birthday is reached on 1 March.
        return date(d.year + years, 3, 1)


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February: 28 February is the last day on which the age is reached.
        return date(d.year - years, 2, 28)


def _iso(ordinal: int | None) -> str:
    return "" if ordinal is None else date.fromordinal(ordinal).isoformat()


def _national_number(rng: random.Random, birth: date, sex: str, bis: bool, used: set[str]) -> str:
    prefix = f"{birth.year % 100:02d}{birth.month + (40 if bis else 0):02d}{birth.day:02d}"
    century_2000 = birth.year >= 2000
    if sex == "M":
        serial, step, first = 2 * rng.randrange(499) + 1, 2, 1  # 001..997, odd
    elif sex == "F":
        serial, step, first = 2 * rng.randrange(1, 499), 2, 2  # 002..996, even
    else:
        serial, step, first = rng.randint(1, 997), 1, 1
    for _ in range(998):
        body = f"{prefix}{serial:03d}"
        base = int(body) + (2_000_000_000 if century_2000 else 0)
        number = f"{body}{97 - base % 97:02d}"
        if number not in used:
            used.add(number)
            return number
        serial += step
        if serial > 997:
            serial = first
    raise ValueError(f"more than 998 persons share the birth date {birth} in one run")


# Letters NFKD does not decompose into an ASCII base letter.
_ASCII_FOLD = str.maketrans(
    {"ı": "i", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "đ": "d", "Đ": "D", "æ": "ae",
     "Æ": "AE", "œ": "oe", "Œ": "OE"}
)  # fmt: skip


def _ascii(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name.translate(_ASCII_FOLD))
    return "".join(ch for ch in folded.lower() if ch.isascii() and ch.isalnum())


def _email(rng: random.Random, first: str, last: str, birth: date) -> str:
    f = _ascii(first.split()[0]) or "client"
    last_ascii = _ascii(last) or "kbi"
    style = rng.random()
    if style < 0.5:
        local = f"{f}.{last_ascii}"
    elif style < 0.65:
        local = f"{f}{last_ascii}"
    elif style < 0.8:
        local = f"{f[0]}.{last_ascii}"
    elif style < 0.9:
        local = f"{f}_{last_ascii}"
    else:
        local = f"{last_ascii}.{f}"
    suffix = rng.random()
    if suffix < 0.3:
        local += str(rng.randint(1, 99))
    elif suffix < 0.45:
        local += f"{birth.year % 100:02d}"
    elif suffix < 0.55:
        local += str(birth.year)
    return f"{local}@{_EMAIL_DOMAIN.pick(rng)}"


def _house_number(rng: random.Random) -> str:
    number = str(min(1 + int(rng.expovariate(1 / 35)), 400))
    if rng.random() < 0.04:
        number += rng.choice("ABC")
    if rng.random() < 0.18:
        box = rng.randint(1, 30)
        number += f" bus {box}" if rng.random() < 0.8 else f" bus {box // 10 + 1:02d}{box:02d}"
    return number


# --- Rows -----------------------------------------------------------------------------------


def generate_rows(
    persons: int, seed: int, municipalities: Sequence[Municipality], today: date
) -> Iterator[dict[str, str]]:
    """Yield ``persons`` extract rows (column name -> text, '' = unknown) living in
    ``municipalities``, with every date on or before ``today``."""
    if persons < 0:
        raise ValueError("persons must not be negative")
    places = _places(municipalities)
    pools = _pools()
    rng = random.Random(seed)
    used: set[str] = set()
    today_ord = today.toordinal()
    latest_birth = _years_before(today, 18)  # Integrees are adults at ``today``.
    for _ in range(persons):
        yield _person(rng, pools, places, today_ord, latest_birth, used)


def _pick_date(rng: random.Random, low: int, high: int) -> int | None:
    return rng.randint(low, high) if low <= high else None


def _person(
    rng: random.Random,
    pools: _Pools,
    places: _Weighted[_Place],
    today: int,
    latest_birth: date,
    used: set[str],
) -> dict[str, str]:
    r = rng.random

    # Mostly 18-55 with a peak around 30, a tail up to 70.
    age = rng.triangular(18, 56, 29) if r() < 0.9 else rng.uniform(55, 71)
    birth = date.fromordinal(latest_birth.toordinal() - int((age - 18) * 365.25))
    sex = _SEX.pick(rng)
    nationality = _NATIONALITIES.pick(rng)
    profile = nationality.profile
    national_number = _national_number(rng, birth, sex, r() < 0.03, used)

    pool = pools.names[nationality.names]
    female = sex == "F" or (sex == "X" and r() < 0.5)
    first_names = pool.female if female else pool.male
    last_names = pool.last_female if female else pool.last_male
    first_name = rng.choice(first_names)
    if r() < 0.1:
        second = rng.choice(first_names)
        if second != first_name:
            first_name = f"{first_name} {second}"
    last_name = rng.choice(last_names)

    place = places.pick(rng)
    if r() < 0.98:
        street, house_number = rng.choice(pools.streets), _house_number(rng)
        postal_code, city = rng.choice(place.postal_codes), place.city
    else:
        street = house_number = postal_code = city = ""
    email = _email(rng, first_name, last_name, birth) if r() < 0.8 else ""
    phone = f"+324{rng.randint(5, 9)}{rng.randrange(10_000_000):07d}" if r() < 0.88 else ""

    residence = _RESIDENCE[profile].pick(rng)
    target_group = _TARGET_GROUP[profile].pick(rng)
    adult = _years_after(birth, 18).toordinal()
    if target_group == "obliged" and (residence == "student" or age >= 65):
        target_group = "entitled"  # Students and people of pension age are not obliged.

    # Registration: a recency bias because inflows grew; Ukrainians only arrived from March 2022.
    reg_low = max(_REGISTRATION_START, adult)
    if nationality.code == "UA":
        reg_low = max(reg_low, _UKRAINE_START)
    registered = reg_low + int((today - reg_low) * r() ** 0.8) if reg_low <= today else None

    target_since = obligation_since = obligation_met = None
    contract = certificate = vdab = None
    in_group = target_group != "none"
    if registered is not None and in_group:
        target_since = max(registered - min(int(rng.expovariate(1 / 90)), 540), adult)
        if r() < 0.04:
            registered = None  # In the target group but not (yet) registered with the agency.
    elif registered is not None and r() < 0.5:
        registered = None  # Most people outside the target group never registered.

    contract_share = _CONTRACT_SHARE.get(target_group, 0.0)
    if registered is not None and r() < contract_share:
        signed = registered + 14 + min(int(rng.expovariate(1 / 35)), 170)
        contract = signed if signed <= today else None
    if contract is not None and r() < 0.55:
        certificate = _pick_date(rng, contract + 183, min(contract + 730, today))
    if target_group == "obliged" and target_since is not None:
        obligation_since = target_since
        if r() < 0.15:
            obligation_since = min(target_since + rng.randint(1, 60), today)
        if certificate is not None:
            obligation_met = max(certificate, obligation_since)
        elif r() < 0.06:  # Met otherwise: a Dutch diploma, an exemption, a court ruling.
            obligation_met = _pick_date(
                rng, obligation_since + 60, min(obligation_since + 1500, today)
            )
    if contract is not None and contract >= _VDAB_START and r() < 0.45:
        vdab = _pick_date(rng, contract + 7, min(contract + 120, today))

    if certificate is not None:
        nt2, civic = _NT2_CERTIFIED.pick(rng), _CIVIC_CERTIFIED.pick(rng)
    elif contract is not None:
        nt2, civic = _NT2_WITH_CONTRACT.pick(rng), _CIVIC_WITH_CONTRACT.pick(rng)
    else:
        nt2, civic = _NT2_WITHOUT_CONTRACT.pick(rng), _CIVIC_WITHOUT_CONTRACT.pick(rng)

    decision = reason = ability = ""
    if contract is not None:
        if r() < 0.6:
            decision = _CAREER_DECISION.pick(rng)
            if r() < 0.7:
                reason = _CAREER_REASON[decision].pick(rng)
        if r() < 0.6:
            ability = _LEARNING_ABILITY.pick(rng)

    education = _EDUCATION[profile].pick(rng)
    referral = _DIPLOMA_REFERRAL[education].pick(rng)
    result = _DIPLOMA_RESULT.pick(rng) if referral == "true" and r() < 0.8 else ""

    return {
        "national_number": national_number,
        "last_name": last_name,
        "first_name": first_name,
        "birth_date": birth.isoformat(),
        "sex": sex,
        "nationality": nationality.code,
        "nis_code": place.nis_code,
        "street": street,
        "house_number": house_number,
        "postal_code": postal_code,
        "city": city,
        "email": email,
        "phone": phone,
        "target_group": target_group,
        "target_group_since": _iso(target_since),
        "registered_on": _iso(registered),
        "contract_signed_on": _iso(contract),
        "certificate_on": _iso(certificate),
        "obligation_since": _iso(obligation_since),
        "obligation_met_on": _iso(obligation_met),
        "contact_language": nationality.languages.pick(rng),
        "nt2_level": nt2,
        "civic_orientation_status": civic,
        "pilot_consent": _PILOT_CONSENT.pick(rng),
        "education_level": education,
        "kbi_region": place.kbi_region,
        "residence_status": residence,
        "trajectory_type": (
            "" if contract is None else "TT_IBVP" if target_group == "obliged" else "TT_IBRH"
        ),
        "vdab_referral_on": _iso(vdab),
        "career_orientation_decision": decision,
        "career_orientation_reason": reason,
        "language_learning_ability": ability,
        "diploma_recognition_referral": referral,
        "diploma_recognition_result": result,
        "living_wage": _LIVING_WAGE[profile].pick(rng),
    }
