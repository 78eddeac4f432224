"""Vietnamese text normalisation for speech, checked word for word."""

from __future__ import annotations

import pytest

from audio.vietnamese import normalise, number

SENTENCES = [
    ("Thông báo: 7h30 sáng thứ Hai, 15/12, tiêm chủng cho trẻ dưới 5 tuổi tại trạm y tế xã",
     "Thông báo: bảy giờ ba mươi phút sáng thứ Hai, ngày mười lăm tháng mười hai, "
     "tiêm chủng cho trẻ dưới năm tuổi tại trạm y tế xã"),
    ("Họp lúc 19h tại nhà văn hóa", "Họp lúc mười chín giờ tại nhà văn hóa"),
    ("Đúng 7:05 sáng", "Đúng bảy giờ năm phút sáng"),
    ("lúc 14g", "lúc mười bốn giờ"),
    ("từ 7h30 - 9h", "từ bảy giờ ba mươi phút đến chín giờ"),
    ("Đợt 1: từ 8h-11h", "Đợt một: từ tám giờ đến mười một giờ"),
    ("Ngày 15/12/2026 UBND xã thông báo",
     "Ngày mười lăm tháng mười hai năm hai nghìn không trăm hai mươi sáu Ủy ban nhân dân xã thông báo"),
    ("ngày 1/4 họp", "ngày một tháng tư họp"),
    ("Từ 15/12 đến 20/12", "Từ ngày mười lăm tháng mười hai đến ngày hai mươi tháng mười hai"),
    ("Hạn nộp 31/12/2026", "Hạn nộp ngày ba mươi mốt tháng mười hai năm hai nghìn không trăm hai mươi sáu"),
    ("Lệ phí 50.000đ", "Lệ phí năm mươi nghìn đồng"),
    ("Giá 1.200.000 đồng/tấn", "Giá một triệu hai trăm nghìn đồng một tấn"),
    ("Phí 20k", "Phí hai mươi nghìn"),
    ("2 triệu đồng", "hai triệu đồng"),
    ("Hỗ trợ 105.000 đ mỗi hộ", "Hỗ trợ một trăm linh năm nghìn đồng mỗi hộ"),
    ("Thu 15.000 VNĐ", "Thu mười lăm nghìn đồng"),
    ("Diện tích 150-200 m2", "Diện tích một trăm năm mươi đến hai trăm mét vuông"),
    ("Khu vực 3-5 km", "Khu vực ba đến năm ki lô mét"),
    ("Mưa 2,5 mm, gió 30 km", "Mưa hai phẩy năm mi li mét, gió ba mươi ki lô mét"),
    ("Nhiệt độ 35°C", "Nhiệt độ ba mươi lăm độ C"),
    ("Tỷ lệ 95%", "Tỷ lệ chín mươi lăm phần trăm"),
    ("Mỗi hộ 10 kg gạo", "Mỗi hộ mười ki lô gam gạo"),
    ("Cấp 2 ha đất", "Cấp hai héc ta đất"),
    ("Liên hệ 0912345678", "Liên hệ không chín một hai ba bốn năm sáu bảy tám"),
    ("Gọi +84912345678", "Gọi cộng tám bốn chín một hai ba bốn năm sáu bảy tám"),
    ("Số 0912 345 678 của trưởng thôn", "Số không chín một hai ba bốn năm sáu bảy tám của trưởng thôn"),
    ("Thôn 3 và thôn 12", "Thôn ba và thôn mười hai"),
    ("Năm 2025 có 1.234 hộ", "Năm hai nghìn không trăm hai mươi lăm có một nghìn hai trăm ba mươi tư hộ"),
    ("Có 21 hộ nghèo", "Có hai mươi mốt hộ nghèo"),
    ("Tổng 101 người", "Tổng một trăm linh một người"),
    ("HĐND và MTTQ xã", "Hội đồng nhân dân và Mặt trận Tổ quốc xã"),
    ("Mang CCCD và thẻ BHYT", "Mang căn cước công dân và thẻ bảo hiểm y tế"),
    ("Diễn tập PCCC", "Diễn tập phòng cháy chữa cháy"),
    ("Đóng BHXH tự nguyện", "Đóng bảo hiểm xã hội tự nguyện"),
    ("Học sinh THCS nghỉ học", "Học sinh trung học cơ sở nghỉ học"),
    ("Cài VNeID mức 2", "Cài vê en e ai đi mức hai"),
    ("Cảnh báo lũ: mực nước 3,2 m", "Cảnh báo lũ: mực nước ba phẩy hai mét"),
    ("Xe 16 chỗ đón lúc 6h15", "Xe mười sáu chỗ đón lúc sáu giờ mười lăm phút"),
    ("Tiêm mũi 2 cho trẻ 18 tháng", "Tiêm mũi hai cho trẻ mười tám tháng"),
    ("Còn 1.000.000 đồng", "Còn một triệu đồng"),
    ("Bà con thôn Nà Phìn chú ý", "Bà con thôn Nà Phìn chú ý"),
    ("Hạn chót 10/10", "Hạn chót ngày mười tháng mười"),
]  # fmt: skip


def test_there_are_at_least_forty() -> None:
    assert len(SENTENCES) >= 40


@pytest.mark.parametrize(("text", "spoken"), SENTENCES)
def test_sentence_is_read_as_an_announcer_would(text: str, spoken: str) -> None:
    assert normalise(text) == spoken


def test_the_communes_own_list_wins() -> None:
    assert normalise("UBND xã", {"UBND": "U Bê En Đê"}) == "U Bê En Đê xã"
    assert normalise("thôn NP", {"NP": "Nà Phìn"}) == "thôn Nà Phìn"


@pytest.mark.parametrize(
    ("n", "words"),
    [(0, "không"), (15, "mười lăm"), (24, "hai mươi tư"), (105, "một trăm linh năm"),
     (1005, "một nghìn không trăm linh năm"), (2026, "hai nghìn không trăm hai mươi sáu"),
     (1_500_000, "một triệu năm trăm nghìn"), (3_000_000_000, "ba tỷ")],
)  # fmt: skip
def test_numbers(n: int, words: str) -> None:
    assert number(n) == words
