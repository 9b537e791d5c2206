"""Registry table of the real optical-SAR pairs used for evaluation only (issue 21).

Two public repositories publish co-registered optical-SAR pairs with a known
mapping; sarfeat may measure itself on them but never trains, tunes or ships
them (:mod:`sarfeat.data` merges this table into its registry, so
:func:`sarfeat.data.fetch` verifies them like every other file):

- StaRainJ/Multi-modality-image-matching-database-metrics-methods (the data
  of Jiang et al., "A review of multimodal image matching", Information Fusion
  2021), folder ``Multimodal_Image_Matching_Datasets/RemoteSensing/SAR_Optical``:
  six MATLAB v5 files ``SO<k>.mat``, each with the SAR image (``I_fix``), the
  optical image (``I_move``), 20 hand-placed landmarks per image
  (``Landmarks.LMfix``, ``Landmarks.LMmov``) and a 3x3 projective ``T``. The
  repository has no licence.
- yeyuanxin110/CFOG (Ye et al., TGRS 2019): three optical (``*_ref``) / SAR
  (``*_sen``) pairs and their control points (``*_CP.txt``), published "for
  research purposes only". Only these data files are used; the method of that
  repository is patented and sarfeat neither reads nor implements its code.
"""

from __future__ import annotations

STARAINJ_REPO = (
    "https://raw.githubusercontent.com/StaRainJ/Multi-modality-image-matching-database-"
    "metrics-methods/ed2d5a4c8cc5b23297ecc598e2df1ab016422daa/"
    "Multimodal_Image_Matching_Datasets/RemoteSensing/SAR_Optical"
)
STARAINJ_LICENCE = (
    "no licence: evaluation only, never shipped (StaRainJ/Multi-modality-image-matching-"
    "database-metrics-methods, the SAR_Optical pairs of Jiang et al., Information Fusion "
    "2021; the repository has no licence file); never training or tuning data"
)
CFOG_REPO = (
    "https://raw.githubusercontent.com/yeyuanxin110/CFOG/"
    "bdae6ade539ad8de0951d384e08c97694756a5a0"
)
CFOG_LICENCE = (
    "research only: evaluation only, never shipped (yeyuanxin110/CFOG, data of Ye et al., "
    "TGRS 2019, 'provided for research purposes only, any commercial use is prohibited'); "
    "never training or tuning data; only the data files are used, never the patented method"
)

# name -> (sha256, bytes, path of the file in its repository below the pinned commit)
STARAINJ_FILES = {
    "optical_sar/starainj/SO1.mat": (
        "84d09720771d045eb0bac0389d69765e43e002418c609b40cb1c3c1e395fb698", 1113835),
    "optical_sar/starainj/SO2.mat": (
        "f0a74f5d84177fdd42324bf2f227f85ab9dd369206034626668b0465dbccf956", 1593318),
    "optical_sar/starainj/SO3.mat": (
        "778a38e16838f975ee1209fe3cf58353404e5a852599e982b1b5409ff9b29429", 1588215),
    "optical_sar/starainj/SO4.mat": (
        "ad454cd35a1b3f16b136922e885f3ce4505050e17982e71c3507bd3587f89d2e", 1312151),
    "optical_sar/starainj/SO5.mat": (
        "1f035270675573f75e44d08765aa01f3755cfeee3ae9e217b42a8720e5e49738", 1363716),
    "optical_sar/starainj/SO6.mat": (
        "259e942420a3104ff3b650fdf0a63b887c70a4a1b099a69c5e76c756d72b0657", 1285919),
}
CFOG_FILES = {
    "optical_sar/cfog/optical_ref.png": (
        "1ce6ecaf28fe91ec8386c8eecbf905b5d1a5443ffa6a2443c3c3a9274c4624f0", 678380,
        "data/optical_ref.png"),
    "optical_sar/cfog/SAR_sen.png": (
        "e56b91cf799033c2dc4ff34f7faeaf75cb5fad3b61625cfa2131d97f9a6a5e64", 235705,
        "data/SAR_sen.png"),
    "optical_sar/cfog/OpticaltoSAR_initialCP.txt": (
        "479635ac4ad5836b1fe58da34138094bbe7949afccf8cbd2694fd6099cd589dd", 4017,
        "data/OpticaltoSAR_initialCP.txt"),
    "optical_sar/cfog/visible1_ref.tif": (
        "b50d9a7ac581fdd8cb1673c0509f3578d4af7344a9dca8beccd960891db2c431", 362146,
        "other%20data/visible-SAR/visible1_ref.tif"),
    "optical_sar/cfog/SAR1_sen.tif": (
        "8d4e88e5e76165ce3fdd51256529540a84ec91564a5f821cde629b74e6ed2329", 362146,
        "other%20data/visible-SAR/SAR1_sen.tif"),
    "optical_sar/cfog/visibleToSAR1_CP.txt": (
        "445b98612421def1131b4df253909b12dfdb17b2972b09d7864705839e785bf9", 5945,
        "other%20data/visible-SAR/visibleToSAR1_CP.txt"),
    "optical_sar/cfog/visible2_ref.tif": (
        "07a1524bac6cdc74302874763075e3acdf0da0593d092597a8bf45449e40ef35", 3147104,
        "other%20data/visible-SAR/visible2_ref.tif"),
    "optical_sar/cfog/SAR2_sen.tif": (
        "55b419adbd23c528c1c7ea6b57e1e95749e562b810e2388f2dda88ed19e4a3f5", 393421,
        "other%20data/visible-SAR/SAR2_sen.tif"),
    "optical_sar/cfog/visibleToSAR2_CP.txt": (
        "ea0484ed66f739facd39d010864de85877843b8356fec53982dcb2e8b17690ff", 6888,
        "other%20data/visible-SAR/visibleToSAR2_CP.txt"),
}

#: name -> (sha256, bytes, pinned URL, licence) of every evaluation-only optical-SAR file.
EVALUATION_FILES = {
    **{name: (digest, size, f"{STARAINJ_REPO}/{name.rsplit('/', 1)[1]}", STARAINJ_LICENCE)
       for name, (digest, size) in STARAINJ_FILES.items()},
    **{name: (digest, size, f"{CFOG_REPO}/{path}", CFOG_LICENCE)
       for name, (digest, size, path) in CFOG_FILES.items()},
}
