"""What residents really type, and where each must land: a procedure key, or "inbox" (a person reads it)."""

from __future__ import annotations

import json
from pathlib import Path

INBOX = "inbox"

MESSAGES: list[tuple[str, str]] = [
    # codes, as the menu teaches them
    ("KS", "KS"),
    ("ks", "KS"),
    ("Ks", "KS"),
    (" KT ", "KT"),
    ("KH.", "KH"),
    ("HN", "HN"),
    ("TL", "TL"),
    ("ct", "CT"),
    ("TT", "TT"),
    ("CC", "CC"),
    ("DD", "DD"),
    ("SD", "SD"),
    ("BH", "BH"),
    ("cho hỏi KS", "KS"),
    ("hoi CC", "CC"),
    # birth
    ("khai sinh", "KS"),
    ("Đăng ký khai sinh?", "KS"),
    ("DANG KY KHAI SINH", "KS"),
    ("cho em hoi lam giay khai sinh can gi a", "KS"),
    ("Cho em hỏi làm giấy khai sinh cho con cần những gì ạ", "KS"),
    ("lam khai sinh cho be can giay to gi", "KS"),
    ("ddawng kys khai sinhf", "KS"),
    ("khai xinh", "KS"),
    ("khai sanh cho con", "KS"),
    ("khaisinh", "KS"),
    ("khai sinhhh", "KS"),
    ("vo em moi sinh, lam giay to gi", "KS"),
    ("de con xong thi lam giay gi", "KS"),
    # death
    ("khai tu", "KT"),
    ("Đăng ký khai tử cho ông", "KT"),
    ("lam giay bao tu the nao", "KT"),
    ("bố em mới qua đời, cần làm thủ tục gì", "KT"),
    ("khai tử cần giấy tờ gì ạ", "KT"),
    # marriage
    ("ket hon", "KH"),
    ("dang ky ket hon can nhung gi", "KH"),
    ("Đăng kí kết hôn ở đâu", "KH"),
    ("em sap lay vo, can giay to gi a", "KH"),
    ("kêt hôn", "KH"),
    ("ket hom", "KH"),
    # marital status
    ("xac nhan doc than", "HN"),
    ("xin giấy xác nhận độc thân", "HN"),
    ("giay xac nhan tinh trang hon nhan lam o dau", "HN"),
    ("tinh trang hon nhan", "HN"),
    # extract copy
    ("trich luc khai sinh", "TL"),
    ("xin ban sao giay khai sinh", "TL"),
    ("mat giay khai sinh thi lam sao", "TL"),
    ("Bản sao trích lục hộ tịch bao nhiêu tiền", "TL"),
    # certified copy
    ("chung thuc ban sao", "CT"),
    ("công chứng giấy tờ ở xã được không", "CT"),
    ("sao y ban chinh bao nhieu 1 trang", "CT"),
    ("chứng thực chữ ký", "CT"),
    # residence
    ("dang ky thuong tru", "TT"),
    ("nhap khau cho con", "TT"),
    ("đăng ký tạm trú ở đâu", "TT"),
    ("lam so ho khau", "TT"),
    ("chuyen khau ve xa", "TT"),
    ("thuong chu", "TT"),
    # ID card
    ("lam can cuoc", "CC"),
    ("đổi CMND sang căn cước", "CC"),
    ("cap lai the can cuoc mat bao nhieu tien", "CC"),
    ("lam cccd cho con 14 tuoi", "CC"),
    ("can cuoc cong dan", "CC"),
    ("can cuoc", "CC"),
    # VNeID
    ("kich hoat vneid muc 2", "DD"),
    ("dinh danh dien tu lam o dau", "DD"),
    ("VNeID", "DD"),
    ("tai khoan dinh danh", "DD"),
    # land
    ("lam so do", "SD"),
    ("cấp sổ đỏ lần đầu mất bao lâu", "SD"),
    ("so hong", "SD"),
    ("giay chung nhan quyen su dung dat", "SD"),
    # insurance
    ("the bhyt cho be", "BH"),
    ("bảo hiểm y tế trẻ em", "BH"),
    ("dong bao hiem xa hoi tu nguyen", "BH"),
    ("BHYT", "BH"),
    # greetings, thanks, nonsense, things the machine must not answer
    ("alo", INBOX),
    ("xin chào", INBOX),
    ("Chào xã ạ", INBOX),
    ("cam on", INBOX),
    ("Cảm ơn cán bộ nhiều", INBOX),
    ("ok", INBOX),
    ("hello", INBOX),
    ("asdfgh", INBOX),
    ("123456", INBOX),
    ("...", INBOX),
    ("duong vao ban bi sat lo", INBOX),
    ("Bao giờ có điện lại ạ", INBOX),
    ("nha em bi mat trom", INBOX),
    ("tôi muốn gặp chủ tịch xã", INBOX),
    ("mai co hop thon khong", INBOX),
    ("lúa bị sâu thì phun thuốc gì", INBOX),
    ("sinh nhật vui vẻ", INBOX),
    ("ban sao ko tra loi", INBOX),
    ("nap the cao 50k", INBOX),
]

# VNI typing: tone and vowel marks as digits after the letter (1 sac 2 huyen 3 hoi 4 nga 5 nang,
# 6 a^/e^/o^, 7 o+/u+, 8 a(, 9 d-), the digit right after the vowel or at the end of the word.
VNI: list[tuple[str, str]] = [
    ("d9a8ng ky1 khai sinh", "KS"),
    ("la2m giay khai sinh cho con", "KS"),
    ("cho em ho3i la2m the ca8n cu7o71c", "CC"),
    ("d9a8ng ky1 ke61t ho6n", "KH"),
    ("khai tu73 cho bo61", "KT"),
    ("xin ba3n sao trich1 lu5c khai sinh", "TL"),
    ("chu71ng thu75c ba3n sao o73 d9a6u", "CT"),
    ("d9a8ng ky1 thu7o72ng tru1", "TT"),
    ("kich1 hoa5t vneid mu71c 2", "DD"),
    ("la2m so63 d9o3 la62n d9a62u", "SD"),
    ("the3 ba3o hie63m y te61 cho tre3 em", "BH"),
    ("xac1 nha65n tinh2 tra5ng ho6n nha6n", "HN"),
    ("xin gia61y xac1 nha65n d9o65c tha6n", "HN"),
    ("dang2 ky1 tam5 tru1 o73 xa4", "TT"),
    ("ca61p la5i the3 ca8n cu7o71c bao nhie6u tie62n", "CC"),
    ("bo61 em mo71i qua d9o72i, la2m giay to72 gi2", "KT"),
    ("chu71ng thu75c chu74 ky1", "CT"),
    ("d9ang8 ky1 khai tu73", "KT"),
    ("ba3o hie63m xa4 ho65i tu75 nguye65n d9o1ng o73 d9a6u", "BH"),
    ("d9inh5 danh d9ie65n tu73 mu71c 2", "DD"),
    ("so63 ho62ng", "SD"),
    ("la2m ca8n cu7o71c cho con 14 tuo63i", "CC"),
    ("xin giay chu71ng sinh cho be", "KS"),
    ("nha65p kha6u3 cho vo75", "TT"),
]

# Words typed without their spaces, as T9 and hurried thumbs do.
JOINED: list[tuple[str, str]] = [
    ("dangky thuongtru", "TT"),
    ("vneidmuc2", "DD"),
    ("dangkykhaisinh", "KS"),
    ("lamcancuoc", "CC"),
    ("kethon can gi", "KH"),
    ("xacnhan docthan", "HN"),
    ("bansao trichluc", "TL"),
    ("chungthuc bansao", "CT"),
    ("dangky tamtru", "TT"),
    ("sodo landau", "SD"),
    ("baohiemyte cho be", "BH"),
    ("khaitu cho ba noi", "KT"),
    ("lamsohokhau", "TT"),
    ("caplaicancuoc", "CC"),
    ("dinhdanhdientu", "DD"),
    ("cancuoccongdan", "CC"),
    ("theBHYT", "BH"),
    ("dangkyketHon o dau", "KH"),
    ("chungminhthu mat roi", "CC"),
    ("kichhoatvneid", "DD"),
    ("trichlucHoTich", "TL"),
    ("DangKyTamTru", "TT"),
]

# Situations told in plain words, without the procedure's name.
SITUATIONS: list[tuple[str, str]] = [
    ("vo em vua de xong, lam giay to gi cho chau", "KS"),
    ("nha em moi sinh em be duoc 1 tuan", "KS"),
    ("con dau toi moi sinh chau trai, can lam gi", "KS"),
    ("Vợ tôi vừa sinh con ở trạm y tế, giờ làm giấy gì cho cháu ạ", "KS"),
    ("chau moi ra doi thi phai lam gi", "KS"),
    ("bố em mất hôm qua, cần làm giấy tờ gì", "KT"),
    ("ong noi em vua mat sang nay, can lam thu tuc gi", "KT"),
    ("me toi mat roi thi lam giay gi o xa", "KT"),
    ("nha em co nguoi moi mat, bao xa the nao", "KT"),
    ("bà em vừa qua đời tuần trước", "KT"),
    ("em lay chong xa khac, muon cat khau ve nha chong", "TT"),
    ("cắt khẩu về nhà chồng cần giấy gì", "TT"),
    ("chuyen ho khau ve que vo", "TT"),
    ("con em len tinh o tro di hoc co phai khai bao khong", "TT"),
    ("em sap lay chong nguoi Han Quoc, ho doi giay chung nhan chua co chong", "HN"),
    ("lam giay chua co vo de nop ho so di xuat khau lao dong", "HN"),
    ("xin giấy xác nhận chưa lập gia đình", "HN"),
    ("giay khai sinh cua con bi rach", "TL"),
    ("em lam mat giay khai sinh roi, xin lai the nao", "TL"),
    ("giay khai sinh bi uot nhoe het chu, lam lai o dau", "TL"),
    ("bị mất bản gốc giấy khai sinh", "TL"),
    ("em bi mat the can cuoc", "CC"),
    ("vi bi rot mat chung minh thu roi", "CC"),
    ("đất nhà em chưa có sổ, muốn làm thì sao", "SD"),
    ("chau moi sinh co duoc cap the bao hiem khong", "BH"),
]

# Invitations, notices and news that contain a procedure's words: a person reads them, no answer.
NOT_QUESTIONS: list[tuple[str, str]] = [
    ("Kính mời anh chị cán bộ xã đến dự đám cưới con trai chúng tôi vào chủ nhật 6/12", INBOX),
    ("tran trong kinh moi xa den du le thanh hon cua chau", INBOX),
    ("moi ca nha toi an cuoi em gai em thu 7 nay nhe", INBOX),
    ("Nhà em tổ chức đám cưới ngày 12, mời các chú trên xã xuống chung vui", INBOX),
    (
        "Gia đình vô cùng thương tiếc báo tin ông Nguyễn Văn Hùng đã qua đời lúc 5 giờ sáng nay, "
        "lễ tang tổ chức tại nhà",
        INBOX,
    ),
    ("kinh bao: cu ba Lo Thi Pha mat ngay 25, an tang ngay 27", INBOX),
    ("Cáo phó: cụ ông Vàng A Sử từ trần, hưởng thọ 82 tuổi", INBOX),
    ("moi can bo xa du tiec mung tho ba em", INBOX),
    ("chuc mung xa da co so dien thoai tra loi tu dong", INBOX),
    ("chúc mừng năm mới cán bộ xã", INBOX),
    ("thôn Nà Phìn báo cáo: tuần này có 2 cháu mới sinh, 1 cụ qua đời", INBOX),
    ("Thông báo: thứ 2 tuần sau tiêm chủng cho trẻ mới sinh tại trạm y tế", INBOX),
    ("em moi lay vo hom qua, cam on xa da den du", INBOX),
    ("dam cuoi nha anh Tuan bi hoan vi mua lu", INBOX),
    ("chieu nay co dam ma o ban Pa Khoang, xin nghi hop", INBOX),
    ("moi ong ba di hop ban ve viec cap so do chieu mai", INBOX),
    ("Kính gửi UBND xã, gia đình tôi xin báo tin vui cháu nội vừa chào đời", INBOX),
    ("Mời đồng chí trưởng thôn lên xã họp lúc 8h về khai sinh lưu động", INBOX),
    ("thu 6 nay hop thon ve lam can cuoc cho nguoi gia, moi ba con di du", INBOX),
    ("ban em cuoi vo, moi xa toi an co", INBOX),
    ("hôm nay nhà em ăn hỏi, mời xã sang uống nước", INBOX),
    ("thong bao lich tiem chung thang 12", INBOX),
    ("chuc mung dam cuoi anh chi", INBOX),
]

# A second batch, written after the rules above were in place and before they were tried on it
# (36 of 40 right at first: two to the inbox, one asked back, one wrong, KS for a torn certificate).
SECOND_BATCH: list[tuple[str, str]] = [
    ("e muon lam giay khai sinh cho dua thu 2", "KS"),
    ("Chị ơi đẻ ở nhà thì đăng ký khai sinh thế nào", "KS"),
    ("vo sinh doi 2 be, lam khai sinh 1 lan duoc ko", "KS"),
    ("con sinh ra o benh vien huyen, ve xa lam giay gi", "KS"),
    ("qua han 60 ngay chua khai sinh cho con co bi phat khong", "KS"),
    ("ông cụ nhà em mất đêm qua rồi, báo tử ở đâu", "KT"),
    ("bo toi chet vi tai nan, khai tu can giay gi", "KT"),
    ("me chong em vua mat, lam thu tuc gi o xa", "KT"),
    ("dang ky ket hon co can ca 2 nguoi len xa khong", "KH"),
    ("em va ban trai muon dang ky ket hon", "KH"),
    ("chong em nguoi xa khac, dk ket hon o dau", "KH"),
    ("xin giấy độc thân để vay vốn ngân hàng", "HN"),
    ("giay xac nhan hon nhan de mua dat", "HN"),
    ("con gai em lay chong Dai Loan, ben do doi giay chua ket hon", "HN"),
    ("xin ban sao khai sinh de nop ho so di hoc", "TL"),
    ("giay khai sinh cu bi chuot can, lam lai the nao", "TL"),
    ("trich luc ket hon", "TL"),
    ("cong chung so do o xa duoc khong", "CT"),
    ("chung thuc ban sao hoc ba het bao nhieu", "CT"),
    ("sao y bang tot nghiep", "CT"),
    ("chuyen ho khau tu huyen khac ve", "TT"),
    ("nha em moi lay vo, nhap khau cho vo the nao", "TT"),
    ("dk tam tru cho cong nhan thue nha", "TT"),
    ("the can cuoc het han roi lam lai o dau", "CC"),
    ("lam CCCD mat bao lau", "CC"),
    ("mat cmnd lam lai the nao", "CC"),
    ("cai vneid khong dang nhap duoc", "DD"),
    ("kich hoat dinh danh muc 2 cho me", "DD"),
    ("lam so do cho manh dat moi mua", "SD"),
    ("cap giay chung nhan quyen su dung dat mat bao lau", "SD"),
    ("dong bhxh tu nguyen bao nhieu 1 thang", "BH"),
    ("the bao hiem y te cua con het han", "BH"),
    ("kinh moi ong chu tich den du le cuoi chau gai", INBOX),
    ("Thứ 7 nhà em cưới vợ, mời anh em cán bộ xã", INBOX),
    ("bao cao thon: dam tang cu Sinh xong roi", INBOX),
    ("xin chao, em la nguoi moi chuyen ve xa", INBOX),
    ("cam on xa da giup lam khai sinh cho chau", INBOX),
    ("ngay mai co mua lon khong", INBOX),
    ("may bom nuoc cua thon hong roi", INBOX),
    ("chuc mung sinh nhat chu tich", INBOX),
]

SEED_TABLE = MESSAGES[:]
MESSAGES = [*SEED_TABLE, *VNI, *JOINED, *SITUATIONS, *NOT_QUESTIONS, *SECOND_BATCH]
KINDS = {"codes and phrases": SEED_TABLE, "VNI": VNI, "joined words": JOINED, "situations": SITUATIONS,
         "invitations and news": NOT_QUESTIONS, "second batch": SECOND_BATCH}  # fmt: skip

# A day of questions the seed cannot answer, in pairs of two residents saying the same thing: the
# officials answer the first of each pair by procedure in the console, the second must then be answered.
LEARNING_DAY: list[tuple[str, str, str]] = [
    ("con em 14 tuoi lam the o dau", "chau nha em du 14 tuoi thi lam the o dau a", "CC"),
    ("chuyen ve o han nha vo thi khai bao gi", "chuyen ve o han ben nha vo can khai bao gi khong", "TT"),
    ("dat vuon nha em chua co giay to gi ca", "dat vuon chua co giay to thi lam the nao", "SD"),
    ("ho ngheo co duoc ho tro dong tien y te khong", "ho ngheo duoc ho tro tien y te the nao", "BH"),
    ("lam ho so di lao dong Dai Loan xin giay gi o xa", "di lao dong Dai Loan can xin giay gi o xa", "HN"),
    ("photo giay to roi dong dau xa o dau", "muon dong dau xa vao ban photo giay to", "CT"),
    ("chau sinh o nha khong co giay cua tram y te", "sinh o nha khong co giay tram y te thi sao", "KS"),
    ("ong nha em nam vien khong qua khoi", "ba noi em benh nang khong qua khoi", "KT"),
    ("dien thoai bao tai khoan chua xac thuc, ra xa lam gi", "tai khoan tren dien thoai chua xac thuc thi sao", "DD"),
    ("hai dua muon ve o voi nhau lam giay gi", "muon ve o voi nhau thi lam giay gi o xa", "KH"),
    ("xin them ban giay cua con de nop cho truong", "can them ban giay cua chau de nop truong hoc", "TL"),
    ("xin nghi hop thon toi nay", "toi nay xin nghi hop thon nhe", INBOX),
    ("con di hoc nuoc ngoai can giay to gi cua xa", "chau sap di du hoc Nhat, xa cap giay to gi", "TL"),
    ("nha em muon tach ra o rieng voi bo me", "vo chong em muon ra o rieng, tach khoi nha bo me", "TT"),
    ("nguoi gia 80 tuoi co duoc cap the kham benh mien phi", "cu nha em 82 tuoi duoc cap the kham benh khong", "BH"),
    ("dien luc cat dien tu sang den gio", "sao cat dien ca ngay vay", INBOX),
    ("xe rac bao lau chua qua thon", "may hom nay xe rac khong qua thon em", INBOX),
    (
        "chau 16 tuoi chua co the, lam o cong an xa duoc khong",
        "con em 15 tuoi chua co the, ra cong an xa lam duoc khong",
        "CC",
    ),
    ("muon mua dat cua hang xom thi sang ten the nao", "mua lai manh dat nha ben canh, sang ten o dau", "SD"),
    ("hai vo chong ly hon roi, muon lay nguoi khac", "ly hon roi muon tai hon can giay gi o xa", "HN"),
]

NONSENSE = {text for text, key in MESSAGES if key == INBOX}

# The development set (tests/data/resident-questions-dev.json): 320 messages written by hand by someone who
# never saw the matcher, each with the procedure it asks about (or none) and its most noticeable style.
DEV_KEYS = {
    "khai_sinh": "KS",
    "khai_tu": "KT",
    "ket_hon": "KH",
    "hon_nhan": "HN",
    "trich_luc": "TL",
    "chung_thuc": "CT",
    "cu_tru": "TT",
    "can_cuoc": "CC",
    "vneid": "DD",
    "so_do": "SD",
    "bhyt": "BH",
}


def _dev() -> list[tuple[str, str, str]]:
    raw = json.loads((Path(__file__).parent / "data" / "resident-questions-dev.json").read_text(encoding="utf-8"))
    return [(r["text"], DEV_KEYS[r["expect"]] if r["expect"] else INBOX, r["style"]) for r in raw]


DEV: list[tuple[str, str, str]] = _dev()  # (text, procedure key or INBOX, style)
