"""What residents really type, and where each must land: a procedure key, or "inbox" (a person reads it)."""

from __future__ import annotations

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

NONSENSE = {text for text, key in MESSAGES if key == INBOX}
